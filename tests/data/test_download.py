"""md5 checks and the downloader against a local HTTP server on loopback."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from bioscan_hf.data.checksums import ChecksumError, md5sum, verify_md5
from bioscan_hf.data.download import DownloadError, download_file

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves PAYLOAD at /ok/<name>, honouring Range; /cut/<name> closes the connection half-way."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        self.requests.append(f"{self.path} {self.headers.get('Range')}")
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        body = PAYLOAD[start:]
        if self.path.startswith("/cut/"):
            body = body[: len(body) // 2]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(PAYLOAD) - start))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _serve(handler: type[http.server.BaseHTTPRequestHandler]):
    """A loopback HTTP server for `handler` in a thread; yields its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def server():
    _RangeHandler.requests = []
    yield from _serve(_RangeHandler)


def test_md5_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(PAYLOAD)
    assert md5sum(path, progress=False) == hashlib.md5(PAYLOAD).hexdigest()
    monkeypatch.setattr("builtins.open", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-read")))
    assert md5sum(path, progress=False) == hashlib.md5(PAYLOAD).hexdigest()


@pytest.mark.damaged_input
def test_md5_mismatch_names_both_digests(tmp_path: Path) -> None:
    path = tmp_path / "BIOSCAN_5M_cropped_256_eval.zip"
    path.write_bytes(b"not the release")
    with pytest.raises(
        ChecksumError,
        match=f"expected 16a997f72a8cd08cbcf7becafe2dda50, actual {hashlib.md5(b'not the release').hexdigest()}",
    ):
        verify_md5(path, progress=False)


def test_download_falls_back_to_a_mirror_and_checks_md5(server: str, tmp_path: Path) -> None:
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    path = download_file(
        "x.zip",
        tmp_path,
        mirrors=["http://127.0.0.1:9/{name}", server + "/ok/{name}"],
        md5=md5,
        progress=False,
        timeout=5,
    )
    assert path.read_bytes() == PAYLOAD and not (tmp_path / "x.zip.part").exists()


@pytest.mark.damaged_input
def test_download_resumes_a_partial_file(server: str, tmp_path: Path) -> None:
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    with pytest.raises(DownloadError, match="connection closed"):
        download_file("x.zip", tmp_path, mirrors=[server + "/cut/{name}"], md5=md5, progress=False)
    have = (tmp_path / "x.zip.part").stat().st_size
    assert 0 < have < len(PAYLOAD)
    path = download_file("x.zip", tmp_path, mirrors=[server + "/ok/{name}"], md5=md5, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert _RangeHandler.requests[-1].endswith(f"bytes={have}-")


@pytest.mark.damaged_input
def test_download_md5_mismatch_is_reported(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="md5 mismatch: expected 0+, actual"):
        download_file("x.zip", tmp_path, mirrors=[server + "/ok/{name}"], md5="0" * 32, progress=False)
    assert not (tmp_path / "x.zip").exists()


# --- files without a published md5: what can be checked is checked ------------------------------------------


def _zip_bytes() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bioscan5m/images/cropped_256/test/P1.jpg", b"\xff\xd8" + PAYLOAD[:1000])
    return buffer.getvalue()


class _ContentHandler(http.server.BaseHTTPRequestHandler):
    """/html/<name>: a login page; /text/<name>: plain text; /zip/<name>: a real zip; /cut/<name>: half a zip."""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        kind = self.path.split("/")[1]
        body, content_type = {
            "html": (b"<!DOCTYPE html><html><body>Please sign in</body></html>", "text/html; charset=utf-8"),
            "html-as-binary": (b"<!doctype html><html>Not found</html>", "application/octet-stream"),
            "text": (b"hello, this is not a zip\n" * 50, "application/octet-stream"),
            "zip": (_zip_bytes(), "application/zip"),
            "cut": (_zip_bytes()[:-30], "application/zip"),
        }[kind]
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def content_server():
    yield from _serve(_ContentHandler)


@pytest.mark.damaged_input
@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("html", "the server sent an HTML page"),
        ("html-as-binary", "the server sent an HTML page, not the file"),
        ("text", "not a readable zip"),
        ("cut", "not a readable zip"),
    ],
)
def test_download_refuses_what_is_not_the_file(content_server: str, tmp_path: Path, kind: str, message: str) -> None:
    name = "BIOSCAN_5M_cropped_256_pretrain.zip"  # no published md5
    with pytest.raises(DownloadError, match=message):
        download_file(name, tmp_path, mirrors=[f"{content_server}/{kind}/{{name}}"], progress=False)
    assert not (tmp_path / name).exists() and not (tmp_path / f"{name}.part").exists()


def test_download_without_md5_keeps_a_good_zip(content_server: str, tmp_path: Path) -> None:
    path = download_file(
        "BIOSCAN_5M_cropped_256_pretrain.zip", tmp_path, [content_server + "/zip/{name}"], progress=False
    )
    assert path.read_bytes() == _zip_bytes()


@pytest.mark.damaged_input
def test_a_mirror_without_name_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from bioscan_hf.cli import main

    assert main(["download", "--out", str(tmp_path), "--mirror", "http://127.0.0.1:9/files/metadata.zip"]) == 1
    assert "has no {name} placeholder" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
