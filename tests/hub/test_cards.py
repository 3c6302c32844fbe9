"""Model cards of trained models (`bioscan_hf.hub.cards`) and the upload call (`bioscan_hf.hub.upload`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bioscan_hf.cli import main
from bioscan_hf.hub import upload_folder
from bioscan_hf.hub.cards import read_metrics, results_table, write_barcodebert_card
from bioscan_hf.models.barcodebert import BarcodeBertConfig, BarcodeBertModel


def test_a_barcodebert_card_carries_its_size_and_results(tmp_path: Path) -> None:
    config = BarcodeBertConfig.from_preset("small", hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    BarcodeBertModel(config).save_pretrained(tmp_path / "bb")
    (tmp_path / "bb" / "metrics.json").write_text(json.dumps({"test_accuracy": 0.8125}))
    assert read_metrics(tmp_path / "bb") == {"test_accuracy": 0.8125}
    path = write_barcodebert_card(tmp_path / "bb", "me/bb", "synthetic sample (generated)")
    card = path.read_text()
    assert "me/bb" in card and "synthetic sample (generated)" in card and "81.25" in card
    assert f"{BarcodeBertModel(config).num_parameters():,}" in card
    assert results_table({}) == "No evaluation results were recorded for this checkpoint."


def test_model_card_command_refuses_a_folder_without_config(tmp_path: Path, capsys) -> None:
    assert main(["model-card", str(tmp_path), "--repo-id", "me/x"]) == 1
    assert "has no config.json: not a saved model folder" in capsys.readouterr().err


def test_upload_creates_the_repo_then_uploads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi

    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create", repo_id, kw)) or "u")
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, **kw: calls.append(("upload", kw["repo_id"], kw)))
    assert upload_folder(tmp_path, "model", repo_id="me/x", private=True) == "u"
    assert [c[:2] for c in calls] == [("create", "me/x"), ("upload", "me/x")] and calls[0][2]["private"]
