"""Uploading a prepared dataset: up to the network call (no Hub here), offline refused, an unprepared folder
refused before any upload."""

from pathlib import Path

import pytest

from bioscan_hf.data.publish import PrepareError
from bioscan_hf.hub.upload import push_dataset


def test_push_goes_up_to_the_network_call(prepared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi

    calls = {}
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.setdefault("create", (repo_id, kw)))
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, **kw: calls.setdefault("upload", kw))
    push_dataset(prepared, repo_id="me/bioscan-5m")
    assert calls["create"] == ("me/bioscan-5m", {"repo_type": "dataset", "private": False, "exist_ok": True})
    assert calls["upload"]["folder_path"] == str(prepared) and calls["upload"]["repo_type"] == "dataset"


def test_push_offline_raises(prepared: Path) -> None:
    from huggingface_hub.errors import OfflineModeIsEnabled

    with pytest.raises(OfflineModeIsEnabled):
        push_dataset(prepared, repo_id="me/bioscan-5m")


def test_push_refuses_an_unprepared_folder(tmp_path: Path) -> None:
    with pytest.raises(PrepareError, match="not a prepared dataset folder"):
        push_dataset(tmp_path, repo_id="me/x")
