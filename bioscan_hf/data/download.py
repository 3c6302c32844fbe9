"""Download release files from mirrors, resuming partial files and checking md5 digests."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

from bioscan_hf.core.console import progress_bar
from bioscan_hf.core.errors import InputError, UserError
from bioscan_hf.core.paths import user_path
from bioscan_hf.data.checksums import ChecksumError, md5sum
from bioscan_hf.data.schema import METADATA_ZIP_NAME, PUBLISHED_MD5

#: URL templates; `{name}` is the release file name. Zenodo record 11973457 hosts the release.
DEFAULT_MIRRORS: tuple[str, ...] = ("https://zenodo.org/records/11973457/files/{name}?download=1",)
CHUNK = 1 << 20


class DownloadError(UserError, RuntimeError):
    """No mirror delivered the file."""


def check_mirrors(mirrors: Sequence[str]) -> None:
    """Refuse a mirror template without `{name}`: it would save one URL under every file name."""
    for template in mirrors:
        if "{name}" not in template:
            raise InputError(
                f"mirror {template!r} has no {{name}} placeholder: every release file would be fetched from that "
                "one URL. Write it as e.g. 'https://host/path/{name}'"
            )


def content_problem(path: Path, name: str) -> str | None:
    """What can be checked without a published md5: a zip must open (its central directory is at the end,
    so a cut download fails), a CSV must start with the metadata header; neither may be an HTML page."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        return "the server sent an HTML page, not the file (a login or error page?)"
    if name.endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as archive:
                if not archive.namelist():
                    return "an empty zip"
        except (zipfile.BadZipFile, OSError) as err:
            return f"not a readable zip ({err}): truncated or not the release file"
    elif name.endswith(".csv") and not head.startswith((b"processid,", b"\xef\xbb\xbfprocessid,")):
        return "not the metadata CSV (its first line is not the release header)"
    return None


def download_file(
    name: str,
    dest_dir: str | os.PathLike,
    mirrors: Sequence[str] = DEFAULT_MIRRORS,
    md5: str | None = None,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Fetch release file `name` into `dest_dir`, trying mirrors in order.

    A partial download (`name.part`) resumes with an HTTP Range request; a finished file is checked
    against `md5` (default: the published digest, when one is known) before it takes its final name;
    without a digest, what can be checked is (`content_problem`): the size the server announced, an
    HTML page sent instead of the file, a zip that does not open.
    """
    check_mirrors(mirrors)
    dest_dir = user_path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / name
    expected = (md5 or PUBLISHED_MD5.get(name) or "").lower() or None
    if final.exists():
        if expected and md5sum(final, progress=progress) != expected:
            raise ChecksumError(
                f"{final}: md5 mismatch: expected {expected}, actual {md5sum(final)}; delete it to retry"
            )
        return final
    partial = dest_dir / f"{name}.part"
    failures = []
    for template in mirrors:
        url = template.format(name=name)
        try:
            _fetch(url, partial, timeout, progress)
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            failures.append(f"{url}: {err}")
            continue
        if expected:
            actual = md5sum(partial, use_cache=False, progress=progress)
            if actual != expected:
                partial.unlink()
                failures.append(f"{url}: md5 mismatch: expected {expected}, actual {actual}")
                continue
        else:
            problem = content_problem(partial, name)
            if problem:
                partial.unlink()
                failures.append(f"{url}: {problem} (no published md5 for {name}; the file was discarded)")
                continue
        partial.replace(final)
        return final
    raise DownloadError(f"could not download {name}; tried:\n  " + "\n  ".join(failures))


def _fetch(url: str, partial: Path, timeout: float, progress: bool) -> None:
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (mirrors are user-chosen)
    except urllib.error.HTTPError as err:
        if err.code != 416:  # 416: nothing left to send, the partial file is complete
            raise
        return
    with response:
        kind = response.headers.get("Content-Type", "")
        if kind.startswith("text/html"):
            raise OSError(f"the server sent an HTML page ({kind}), not the file")
        resumed = response.status == 206
        total = response.headers.get("Content-Length")
        total = int(total) + (have if resumed else 0) if total else None
        with (
            open(partial, "ab" if resumed else "wb") as handle,
            progress_bar(
                total=total,
                initial=have if resumed else 0,
                unit="B",
                unit_scale=True,
                desc=partial.stem,
                disable=not progress,
            ) as bar,
        ):
            while block := response.read(CHUNK):
                handle.write(block)
                bar.update(len(block))
    size = partial.stat().st_size
    if total is not None and size != total:
        raise OSError(f"connection closed at {size} of {total} bytes")


def release_file_names(packages: Sequence[str] = ()) -> list[str]:
    """Names of the release files for the metadata and the requested 256 px split-group packages."""
    names = [METADATA_ZIP_NAME]
    for package in packages:
        names += [f"BIOSCAN_5M_{package}_{group}.zip" for group in ("train", "eval", "pretrain")]
    return names
