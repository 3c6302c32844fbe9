"""Damaged and mismatched model folders: each stops with a message saying what is wrong and what to do,
never a traceback, a Hub error for a local path, or silently meaningless embeddings; and the model classes are
registered once `bioscan_hf` is imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bioscan_hf.cli import main
from bioscan_hf.embedding.dna import TransformersDnaEncoder
from bioscan_hf.models.barcodebert import BarcodeBertConfig, BarcodeBertModel, KmerTokenizerFast
from bioscan_hf.models.checks import ModelFolderError, check_safetensors


def _tiny_barcodebert(folder: Path, k: int = 4, tokenizer_k: int | None = None) -> Path:
    config = BarcodeBertConfig(
        k_mer=k, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    BarcodeBertModel(config).save_pretrained(folder)
    KmerTokenizerFast(k=tokenizer_k or k).save_pretrained(folder)
    return folder


def test_a_sound_folder_loads(tmp_path: Path) -> None:
    encoder = TransformersDnaEncoder(_tiny_barcodebert(tmp_path / "bb"), device="cpu")
    assert encoder.model.config.k_mer == 4 and encoder.tokenizer.k == 4


@pytest.mark.damaged_input
@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_a_truncated_safetensors_file_is_named(tmp_path: Path, keep: float) -> None:
    folder = _tiny_barcodebert(tmp_path / "bb")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: int(weights.stat().st_size * keep)])
    with pytest.raises(ModelFolderError, match=r"model.safetensors: .*(truncated|not a readable safetensors)"):
        TransformersDnaEncoder(folder, device="cpu")
    weights.write_bytes(b"\x10")
    with pytest.raises(ModelFolderError, match="not a readable safetensors file"):
        check_safetensors(weights)


@pytest.mark.damaged_input
@pytest.mark.parametrize(("model_k", "tokenizer_k"), [(4, 5), (5, 4), (6, 4)])
def test_a_tokenizer_of_another_k_is_refused(tmp_path: Path, model_k: int, tokenizer_k: int) -> None:
    # (5, 4): the k=4 vocabulary fits in the k=5 embeddings: it would run, and mean nothing.
    folder = _tiny_barcodebert(tmp_path / "bb", k=model_k, tokenizer_k=tokenizer_k)
    with pytest.raises(ModelFolderError, match=f"tokenizer k={tokenizer_k}, model k_mer={model_k}"):
        TransformersDnaEncoder(folder, device="cpu")


@pytest.mark.damaged_input
def test_a_missing_local_folder_is_not_a_hub_error(
    prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    for missing in (tmp_path / "no" / "such" / "model", "./bb-missing/final", "~/no-such-bioscan-model", "bb/final"):
        with pytest.raises(ModelFolderError, match="model folder .* not found"):
            TransformersDnaEncoder(missing, device="cpu")
    args = ["evaluate", "knn", "--dataset", str(prepared), "--model", str(tmp_path / "gone" / "final")]
    assert main([*args, "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "model folder" in err and "not found" in err and "huggingface.co" not in err and "Repository" not in err


def test_registration_on_package_import(tmp_path: Path) -> None:
    """`import bioscan_hf` alone: AutoConfig knows both model types and AutoModel opens a saved folder,
    while `bioscan-hf --help` does not import transformers."""
    folder = _tiny_barcodebert(tmp_path / "bb")
    code = (
        "import sys, bioscan_hf\n"
        "assert 'transformers' not in sys.modules\n"
        "from transformers import AutoConfig, AutoModel\n"
        "assert type(AutoConfig.for_model('barcodebert')).__name__ == 'BarcodeBertConfig'\n"
        "assert type(AutoConfig.for_model('clibd')).__name__ == 'ClibdConfig'\n"
        f"print(type(AutoModel.from_pretrained({str(folder)!r})).__name__)\n"
    )
    # no auto_map detour: the folder's remote-code files are removed, so only the registration can load it
    for extra in folder.glob("*_barcodebert.py"):
        extra.unlink()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "BarcodeBertModel"
    code = (
        "import sys\nfrom bioscan_hf.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'transformers' not in sys.modules, 'bioscan-hf --help imported transformers'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=False)
    assert out.returncode == 0, out.stderr


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "HF_HUB_OFFLINE": "1"}


@pytest.mark.damaged_input
def test_a_pickled_weights_file_with_objects_is_refused_in_our_words(tmp_path: Path) -> None:
    import argparse

    import torch

    folder = _tiny_barcodebert(tmp_path / "bb")
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    payload = {"embeddings.weight": torch.zeros(2), "options": argparse.Namespace(lr=1e-3)}
    torch.save(payload, folder / "pytorch_model.bin")
    before = (folder / "pytorch_model.bin").read_bytes()
    with pytest.raises(ModelFolderError, match="not a weights-only file: .*argparse.Namespace.*source you trust"):
        TransformersDnaEncoder(folder, device="cpu")
    assert main(["embed", str(tmp_path), "--model", str(folder), "--out", str(tmp_path / "e.parquet")]) == 1
    assert (folder / "pytorch_model.bin").read_bytes() == before and not (tmp_path / "e.parquet").exists()


class _Payload:
    """An object whose unpickling would call a function: the kind of checkpoint a converter must not run."""

    def __reduce__(self):
        return (print, ("payload ran",))


@pytest.mark.damaged_input
def test_a_legacy_checkpoint_with_a_payload_is_refused_without_torch_s_unsafe_advice(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import torch

    from bioscan_hf.models.checkpoints import ConversionError, load_torch_file

    checkpoint = tmp_path / "run.pth"
    torch.save({"w": torch.zeros(2), "x": _Payload()}, checkpoint, _use_new_zipfile_serialization=False)
    before = checkpoint.read_bytes()
    with pytest.raises(ConversionError, match="run.pth: not a weights-only checkpoint.*source you trust") as caught:
        load_torch_file(checkpoint)
    assert "weights_only=False" not in str(caught.value) and "payload ran" not in capsys.readouterr().out
    assert checkpoint.read_bytes() == before


@pytest.mark.damaged_input
@pytest.mark.parametrize(
    ("file", "key", "value"),
    [
        ("config.json", "hidden_size", -32),
        ("config.json", "vocab_size", 1e11),
        ("config.json", "num_hidden_layers", "2"),
        ("tokenizer_config.json", "k", 0),
        ("tokenizer_config.json", "k", 1000),
    ],
)
def test_a_size_out_of_range_is_named_with_its_file_before_any_tensor(
    tmp_path: Path, file: str, key: str, value: object
) -> None:
    import json

    folder = _tiny_barcodebert(tmp_path / "bb")
    config = json.loads((folder / file).read_text())
    config[key] = value
    (folder / file).write_text(json.dumps(config))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ModelFolderError, match=f"{file}: {key} = {value!r}: expected a whole number from 1 to"):
        TransformersDnaEncoder(folder, device="cpu")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.damaged_input
def test_a_folder_declaring_code_of_its_own_is_refused_without_trust_remote_code(tmp_path: Path) -> None:
    import json

    from bioscan_hf.embedding import load_encoder
    from bioscan_hf.embedding.base import EncoderError

    folder = _tiny_barcodebert(tmp_path / "bb")
    assert load_encoder(str(folder), device="cpu").model.config.k_mer == 4  # its own auto_map: fine
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {**config.get("auto_map", {}), "AutoModel": "modeling_evil.Evil"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_evil.py").write_text("raise SystemExit('ran')\n")
    with pytest.raises(EncoderError, match="declares code of its own .*modeling_evil.Evil.*--trust-remote-code"):
        load_encoder(str(folder), device="cpu")
    assert main(["embed", str(tmp_path), "--model", str(folder), "--out", str(tmp_path / "e.parquet")]) == 1
