"""`ModelSpec`: the `--model` syntax parsed once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bioscan_hf.core.specs import ModelSpec


@pytest.mark.parametrize(
    ("text", "prefix", "location", "argument"),
    [
        ("kmer6", "kmer", "", "6"),
        ("align", "align", "", ""),
        ("timm:vit_small_patch16_224", "timm", "vit_small_patch16_224", ""),
        ("timm:vit_small_patch16_224:/w/vit.safetensors", "timm", "vit_small_patch16_224", "/w/vit.safetensors"),
        ("hf:zhihan1996/DNABERT-2-117M", "hf", "zhihan1996/DNABERT-2-117M", ""),
        ("runs/bb/final", "", "runs/bb/final", ""),
        ("mamba:tiny", "mamba", "tiny", ""),
    ],
)
def test_forms(text: str, prefix: str, location: str, argument: str) -> None:
    spec = ModelSpec.parse(text)
    assert (spec.prefix, spec.location, spec.argument, str(spec)) == (prefix, location, argument, text)
    assert ModelSpec.parse(spec) is spec


def test_a_folder_its_config_and_fingerprint(tmp_path: Path) -> None:
    folder = tmp_path / "bb" / "final"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "barcodebert"}))
    spec = ModelSpec.parse(str(folder))
    assert spec.folder == folder and spec.config() == {"model_type": "barcodebert"}
    assert spec.display_name == "bb" and ModelSpec.parse(f"hf:{folder}").display_name == "hf:bb"
    before = spec.fingerprint()
    assert spec.fingerprint() == before and spec.fingerprint("cls") != before
    (folder / "README.md").write_text("a card does not change the embeddings")
    assert spec.fingerprint() == before
    (folder / "model.safetensors").write_bytes(b"weights")
    assert spec.fingerprint() != before
    assert ModelSpec.parse("kmer6").config() is None and ModelSpec.parse("kmer6").fingerprint() != before


def test_a_folder_whose_name_looks_like_a_prefix_is_a_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hf:odd").mkdir()
    assert ModelSpec.parse("hf:odd").prefix == ""
    assert ModelSpec.parse("hf:odd").with_location("other").text == "other"
    assert ModelSpec.parse("hf:x").with_location("model").text == "hf:model"
