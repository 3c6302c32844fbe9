"""MLM collator statistics, a pre-training run whose loss falls, resume after a kill, 2-process training."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TINY_PRETRAIN_OPTIONS, accelerate_two_processes

from bioscan_hf.cli import main
from bioscan_hf.models.barcodebert import BarcodeBertConfig, KmerTokenizerFast
from bioscan_hf.training.barcodebert import pretrain_barcodebert
from bioscan_hf.training.collators import BarcodeClassificationCollator, BarcodeMLMCollator, random_offsets
from bioscan_hf.training.species import finetune_species

TINY = BarcodeBertConfig(k_mer=4, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
BIN = Path(sys.executable).parent


def _barcodes(n: int = 400, length: int = 300, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"dna_barcode": "".join(rng.choice(list("ACGT"), size=length - i % 50))} for i in range(n)]


def test_published_masking_statistics() -> None:
    tok = KmerTokenizerFast(k=4)
    batch = BarcodeMLMCollator(tok, scheme="published", random_offset=False, seed=0)(_barcodes())
    labelled = batch["labels"] != -100
    candidates = batch["attention_mask"].bool().clone()
    candidates[:, 0] = False  # [CLS]
    candidates &= batch["input_ids"] != tok.sep_token_id
    share = (labelled & candidates).sum() / candidates.sum()
    assert 0.47 < share.item() < 0.53  # 50% of real k-mers are masked
    assert torch.all(batch["input_ids"][labelled] == tok.mask_token_id)  # … and all become [MASK]
    assert not labelled[~candidates].any()  # never [CLS], [SEP] or padding


def test_bert_masking_statistics() -> None:
    tok = KmerTokenizerFast(k=4)
    batch = BarcodeMLMCollator(tok, scheme="bert", random_offset=False, seed=0)(_barcodes(800))
    labelled = batch["labels"] != -100
    real = batch["attention_mask"].sum().item() - 2 * len(batch["input_ids"])
    assert 0.13 < labelled.sum().item() / real < 0.17
    to_mask = (batch["input_ids"][labelled] == tok.mask_token_id).float().mean().item()
    unchanged = (batch["input_ids"][labelled] == batch["labels"][labelled]).float().mean().item()
    assert 0.77 < to_mask < 0.83 and 0.07 < unchanged < 0.13


def test_random_offset_drops_up_to_k_minus_one_bases() -> None:
    shifted = random_offsets(["ACGTACGTAC"] * 400, 4, torch.Generator().manual_seed(0))
    assert {10 - len(s) for s in shifted} == {0, 1, 2, 3}
    assert random_offsets(["ACGTACGTAC"] * 400, 4, torch.Generator().manual_seed(0)) == shifted


def test_classification_collator() -> None:
    tok = KmerTokenizerFast(k=4)
    batch = BarcodeClassificationCollator(tok)(
        [{"dna_barcode": "ACGTACGT", "labels": 3}, {"dna_barcode": "ACGT", "labels": 1}]
    )
    assert batch["labels"].tolist() == [3, 1] and batch["input_ids"].shape == (2, 4)


def test_tiny_pretraining_loss_falls(prepared: Path, tmp_path: Path) -> None:
    shape = BarcodeBertConfig(
        k_mer=4, hidden_size=64, num_hidden_layers=1, num_attention_heads=2, intermediate_size=128
    )
    run = pretrain_barcodebert(
        prepared,
        tmp_path,
        config=shape,
        max_steps=100,
        per_device_train_batch_size=16,
        learning_rate=5e-3,
        logging_steps=5,
        save_steps=1000,
        use_cpu=True,
    )
    losses = [h["loss"] for h in run.log_history if "loss" in h]
    assert losses[0] == pytest.approx(np.log(4**4 + 5), rel=0.05)  # starts at chance
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:2])
    from transformers import AutoModel, AutoTokenizer

    model, tok = AutoModel.from_pretrained(run.model_dir), AutoTokenizer.from_pretrained(run.model_dir)
    batch = tok(["ACGTACGTAAAT", "TTTTACGT"], padding=True, return_tensors="pt")
    assert model.get_dna_embeddings(**batch).shape == (2, 64)


def _pretrain_command(prepared: Path, out: Path, steps: int) -> list[str]:
    return [
        str(BIN / "bioscan-hf"),
        "pretrain",
        "--dataset",
        str(prepared),
        "--out",
        str(out),
        *TINY_PRETRAIN_OPTIONS,
        "--max-steps",
        str(steps),
        "--batch-size",
        "8",
        "--save-steps",
        "5",
        "--cpu",
    ]


def test_resume_after_kill(prepared: Path, tmp_path: Path) -> None:
    """Killed mid-run and resumed, a run ends with the weights and optimizer state of the uninterrupted run."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    steps = 60
    reference = subprocess.run(_pretrain_command(prepared, tmp_path / "whole", steps), env=env, capture_output=True)
    assert reference.returncode == 0, reference.stderr[-2000:]
    resumed_dir = tmp_path / "killed"
    process = subprocess.Popen(
        _pretrain_command(prepared, resumed_dir, steps),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # killed after its second epoch began: the sampler's order of a later epoch must be replayed too
    deadline = time.time() + 120
    while not (resumed_dir / "checkpoint-25" / "trainer_state.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    checkpoints = sorted(resumed_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert checkpoints and not (resumed_dir / "final").exists()
    for partial in checkpoints:  # a checkpoint being written at the kill is incomplete: drop it
        if not (partial / "trainer_state.json").exists():
            shutil.rmtree(partial)
    done = max(int(p.name.split("-")[1]) for p in resumed_dir.glob("checkpoint-*"))
    assert done < steps, "the run finished before it was killed; nothing was resumed"
    assert json.loads((resumed_dir / f"checkpoint-{done}" / "trainer_state.json").read_text())["epoch"] > 1
    result = subprocess.run(_pretrain_command(prepared, resumed_dir, steps), env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resumed from {resumed_dir / f'checkpoint-{done}'}" in result.stdout
    assert json.loads((resumed_dir / "trainer_state.json").read_text())["global_step"] == steps
    from safetensors.torch import load_file

    whole, again = (load_file(d / "final" / "model.safetensors") for d in (tmp_path / "whole", resumed_dir))
    assert whole.keys() == again.keys()
    for name in whole:
        torch.testing.assert_close(again[name], whole[name], rtol=1e-5, atol=1e-6, msg=name)
    last = f"checkpoint-{steps}"
    optimizers = [torch.load(d / last / "optimizer.pt", weights_only=True) for d in (tmp_path / "whole", resumed_dir)]
    for a, b in zip(optimizers[0]["state"].values(), optimizers[1]["state"].values()):
        for key in a:
            torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6)


def test_a_finished_run_run_again(prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The same command again saves the finished model (Trainer would train a batch past the end, which
    OneCycle refuses); another step count is refused before training, naming the checkpoint."""
    from safetensors.torch import load_file

    out = tmp_path / "run"
    command = _pretrain_command(prepared, out, 5)[1:]
    assert main(command) == 0
    first = load_file(out / "final" / "model.safetensors")
    (out / "final" / "model.safetensors").unlink()
    capsys.readouterr()
    assert main(command) == 0
    assert f"training already finished at {out / 'checkpoint-5'}" in capsys.readouterr().out
    again = load_file(out / "final" / "model.safetensors")
    assert first.keys() == again.keys() and all(torch.equal(first[name], again[name]) for name in first)
    assert main(_pretrain_command(prepared, out, 8)[1:]) == 1
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            f"error: {out / 'checkpoint-5'} belongs to a run of 5 steps, and these options plan 8 steps; resume "
            "with the options that started it, or start over with --no-resume (or another --out)"
        )
    )


def test_two_processes_with_accelerate(prepared: Path, tmp_path: Path) -> None:
    command = accelerate_two_processes(*_pretrain_command(prepared, tmp_path, 6)[1:])
    result = subprocess.run(
        command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    assert state["train_batch_size"] == 8
    # 6 steps × 8 per process × 2 processes: twice the epoch fraction one process would cover
    from bioscan_hf.data.prepared import load_prepared
    from bioscan_hf.training.barcodebert import unique_barcodes

    total = len(unique_barcodes(load_prepared(prepared)))
    assert state["epoch"] == pytest.approx(6 * 8 * 2 / total, rel=0.1)


def test_finetune_reports_val_and_test(prepared: Path, tmp_path: Path) -> None:
    pretrained = pretrain_barcodebert(
        prepared, tmp_path / "pt", config=TINY, max_steps=5, use_cpu=True, per_device_train_batch_size=16
    )
    run = finetune_species(
        prepared,
        pretrained.model_dir,
        tmp_path / "ft",
        max_steps=10,
        use_cpu=True,
        per_device_train_batch_size=16,
        learning_rate=1e-3,
    )
    for key in ("val_accuracy", "val_macro_accuracy", "test_accuracy", "test_macro_accuracy"):
        assert 0.0 <= run.metrics[key] <= 1.0
