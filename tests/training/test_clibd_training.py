"""CLIBD training: towers from checkpoints, LoRA adapters save/load/merge, the collator's handling of
undecodable images and missing modalities, and a `train-clibd` → `evaluate retrieval` run on the sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import TINY_CLIBD, accelerate_two_processes
from peft import PeftModel, get_peft_model
from transformers import AutoModel

from bioscan_hf.cli import main
from bioscan_hf.data.prepared import load_prepared
from bioscan_hf.models.barcodebert import KmerTokenizerFast
from bioscan_hf.models.clibd import ClibdConfig, ClibdModel
from bioscan_hf.models.clibd.processing_clibd import ClibdImageProcessor, ClibdProcessor, build_taxonomy_tokenizer
from bioscan_hf.training.clibd import ClibdCollator, lora_config, rank_names, training_data

TINY = TINY_CLIBD


def test_lora_adapters_save_load_and_merge(tmp_path: Path, tiny_clibd_inputs: dict) -> None:
    base = ClibdModel(ClibdConfig(**TINY)).eval()
    base.save_pretrained(tmp_path / "base")
    model = get_peft_model(base, lora_config(rank=4))
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert any("dna_model" in n and "query.lora_A" in n for n in trainable)
    assert any("text_model" in n and "value.lora_B" in n for n in trainable)
    assert any("image_model" in n and "attn.qkv.lora_A" in n for n in trainable)
    assert any("logit_scale" in n for n in trainable) and any("image_projection" in n for n in trainable)
    assert not any("key" in n or "intermediate" in n for n in trainable)  # the towers stay frozen
    with torch.no_grad():  # lora_B starts at zero: move every adapter weight so the test means something
        for param in model.parameters():
            if param.requires_grad:
                param.add_(0.05 * torch.randn_like(param))
    inputs = tiny_clibd_inputs
    with torch.no_grad():
        expected = model(**inputs, return_loss=True)
    model.save_pretrained(tmp_path / "adapter")
    reloaded = PeftModel.from_pretrained(ClibdModel.from_pretrained(tmp_path / "base"), tmp_path / "adapter").eval()
    merged = model.merge_and_unload()
    merged.save_pretrained(tmp_path / "merged")
    reopened = AutoModel.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        for other in (
            reloaded(**inputs, return_loss=True),
            merged(**inputs, return_loss=True),
            reopened(**inputs, return_loss=True),
        ):
            torch.testing.assert_close(other.loss, expected.loss, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(other.image_embeds, expected.image_embeds, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(other.dna_embeds, expected.dna_embeds, rtol=1e-4, atol=1e-5)
    assert isinstance(reopened, ClibdModel) and not any("lora" in n for n, _ in reopened.named_parameters())


def test_collator_reports_undecodable_images_and_masks_missing_modalities(prepared: Path, tmp_path: Path) -> None:
    train = training_data(prepared)
    names = rank_names(train)
    text = build_taxonomy_tokenizer(n for values in names.values() for n in values)
    processor = ClibdProcessor(ClibdImageProcessor(crop_size=32), KmerTokenizerFast(k=4), text)
    report = tmp_path / "undecodable.tsv"
    collator = ClibdCollator(processor, names, report=report)
    rows = [train[i] for i in range(4)]
    rows[1] = {**rows[1], "image": {"bytes": b"not a jpeg", "path": None}}
    rows[2] = {**rows[2], "dna_barcode": "NNNN"}
    rows[3] = {**rows[3], "order": -1, "family": -1, "genus": -1, "species": -1}
    batch = collator(rows)
    assert batch["image_mask"].tolist() == [True, False, True, True]
    assert batch["dna_mask"].tolist() == [True, True, False, True]
    assert batch["text_mask"].tolist() == [True, True, True, False]
    assert list(collator.undecodable) == [rows[1]["processid"]]
    line = report.read_text().strip()
    assert line.startswith(rows[1]["processid"] + "\t") and "not a readable image" in line
    assert "text_input_ids" not in ClibdCollator(processor, names, use_text=False)(rows[:2])


def test_train_clibd_then_evaluate_retrieval_from_the_cli(prepared: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "clibd"
    args = ["train-clibd", "--dataset", str(prepared), "--out", str(out), "--preset", "small"]
    assert (
        main(
            [
                *args,
                "--max-steps",
                "3",
                "--batch-size",
                "16",
                "--save-steps",
                "2",
                "--logging-steps",
                "1",
                "--lr",
                "1e-3",
            ]
        )
        == 0
    )
    assert {"initial", "final", "adapter", "checkpoint-2"} <= {p.name for p in out.iterdir()}
    model = AutoModel.from_pretrained(out / "final")
    assert isinstance(model, ClibdModel) and model.config.image_size == 64
    ClibdProcessor.from_pretrained(out / "final")
    assert json.loads((out / "final" / "training.json").read_text())["finetune"] == "lora"
    state = json.loads((out / "trainer_state.json").read_text())
    assert any("loss_image_dna" in entry for entry in state["log_history"])
    evaluate = ["evaluate", "retrieval", "--dataset", str(prepared), "--model", str(out / "final"), "--out"]
    assert main([*evaluate, str(tmp_path / "ev")]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    for prefix in ("", "baseline_"):  # the baseline came from OUT/initial
        for direction in ("dna_to_dna", "image_to_image", "image_to_dna", "concat_to_concat"):
            for k in (1, 3, 5):
                value = metrics[f"{prefix}{direction}_species_top{k}_macro_hm"]
                assert 0.0 <= value <= 1.0
    assert metrics["dna_to_dna_genus_top5_micro_seen"] >= metrics["dna_to_dna_genus_top1_micro_seen"]
    assert "| CLIBD | image → DNA |" in (tmp_path / "ev" / "retrieval.md").read_text()
    assert (tmp_path / "ev" / "retrieval.png").stat().st_size > 0
    card = ["model-card", str(out / "final"), "--repo-id", "me/clibd", "--data-note", "Synthetic data."]
    assert main([*card, "--retrieval", str(tmp_path / "ev")]) == 0
    text = (out / "final" / "README.md").read_text()
    assert (
        "| CLIBD | image → DNA |" in text and "Synthetic data." in text and "image_to_dna_species_top1_macro_hm" in text
    )
    assert main([*evaluate, str(tmp_path / "x"), "--config", "metadata"]) == 1
    assert "has no images" in capsys.readouterr().err


def test_metadata_config_is_refused_for_training(prepared: Path) -> None:
    with pytest.raises(ValueError, match="has no images"):
        training_data(prepared, "metadata")
    assert load_prepared(prepared, "cropped_256")["train"].num_rows > 0


def test_two_processes_with_accelerate_and_lora(prepared: Path, tmp_path: Path) -> None:
    import os
    import subprocess

    command = accelerate_two_processes(
        "train-clibd", "--dataset", str(prepared), "--out", str(tmp_path), "--preset", "small"
    ) + ["--max-steps", "3", "--batch-size", "8", "--logging-steps", "1"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    assert state["global_step"] == 3 and state["train_batch_size"] == 8
    total = len(training_data(prepared))
    assert state["epoch"] == pytest.approx(3 * 8 * 2 / total, rel=0.1)  # each step saw 2 × 8 records
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert isinstance(AutoModel.from_pretrained(tmp_path / "final"), ClibdModel)
