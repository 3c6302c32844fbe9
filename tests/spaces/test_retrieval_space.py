"""The retrieval index and the Space, launched on loopback and queried with gradio_client."""

from __future__ import annotations

import importlib.util
import os
import socket
from pathlib import Path

import pytest

from bioscan_hf.retrieval import QueryError, Searcher, build_dna_index, parse_dna_query

APP = Path(__file__).resolve().parents[2] / "spaces" / "bioscan-retrieval" / "app.py"


@pytest.fixture(scope="module")
def index(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dna_index(prepared, "kmer6", tmp_path_factory.mktemp("index"))


def test_parse_queries() -> None:
    assert parse_dna_query(">seq1 some header\nacgt-ACGT\nNNNN\n") == "ACGTACGT"
    for bad, message in (("", "empty"), ("hello world", "not a nucleotide"), ("A" * 6000, "limit")):
        with pytest.raises(QueryError, match=message):
            parse_dna_query(bad)


def test_searcher_finds_the_key_itself(index: Path) -> None:
    searcher = Searcher(index)
    key = searcher.keys.iloc[3]
    result = searcher.search_dna(key.dna_barcode, k=5)
    assert result.neighbours.similarity.iloc[0] == pytest.approx(1.0, abs=1e-4)
    assert list(result.prediction["rank"]) == ["order", "family", "subfamily", "genus", "species"]
    assert 0 < result.prediction.agreement.iloc[0] <= 1
    by_pid = searcher.search_processid(key.processid, k=5)
    assert key.processid not in set(by_pid.neighbours.processid)
    with pytest.raises(QueryError, match="unknown processid"):
        searcher.search_processid("NOPE-00")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_space_answers_over_http(index: Path) -> None:
    pytest.importorskip("gradio")
    from gradio_client import Client

    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["BIOSCAN_SPACE_INDEX"] = str(index)
    spec = importlib.util.spec_from_file_location("space_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    searcher = Searcher(index)
    app = module.build_app(searcher)
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        key = searcher.keys.iloc[0]
        status, neighbours, prediction, _ = client.predict(key.dna_barcode, None, 5, api_name="/search_dna")
        assert "Best match" in status and len(neighbours["data"]) == 5
        assert prediction["headers"] == ["rank", "prediction", "agreement"]
        status, neighbours, _, _ = client.predict(key.processid, 3, api_name="/search_processid")
        assert "Best match" in status and len(neighbours["data"]) == 3
        for bad, message in (("not dna!", "not a nucleotide"), ("", "empty")):
            status, *_ = client.predict(bad, None, 5, api_name="/search_dna")
            assert "Cannot search" in status and message in status
        status, *_ = client.predict("UNKNOWN-1", 5, api_name="/search_processid")
        assert "unknown processid" in status
        status, *_ = client.predict(key.dna_barcode, None, 5, api_name="/search_dna")  # still serving
        assert "Best match" in status
    finally:
        app.close()


def test_index_and_push_space_commands(prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi

    from bioscan_hf.cli import main

    assert main(["index", "--dataset", str(prepared), "--out", str(tmp_path / "idx"), "--approximate"]) == 0
    assert Searcher(tmp_path / "idx").info["approximate"] is True
    uploaded = {}
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: f"https://hub/{repo_id}")

    def upload(self, **kw):
        uploaded["files"] = sorted(str(p.relative_to(kw["folder_path"])) for p in Path(kw["folder_path"]).rglob("*"))
        uploaded["repo_type"] = kw["repo_type"]

    monkeypatch.setattr(HfApi, "upload_folder", upload)
    assert main(["push-space", "--repo-id", "me/space", "--index", str(tmp_path / "idx")]) == 0
    assert uploaded["repo_type"] == "space"
    assert {"app.py", "README.md", "requirements.txt", "artifacts/index/dna.faiss"} <= set(uploaded["files"])
