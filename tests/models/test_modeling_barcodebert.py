"""BarcodeBERT models: Auto registration, offline round trips, remote code, pooling over real tokens."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from helpers import run_without_package
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification

from bioscan_hf.models.barcodebert import (
    BarcodeBertConfig,
    BarcodeBertForMaskedLM,
    BarcodeBertForSequenceClassification,
    BarcodeBertModel,
    KmerTokenizerFast,
)

TINY = {"k_mer": 4, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def test_defaults_are_the_published_8_4_4() -> None:
    config = BarcodeBertConfig()
    assert (config.k_mer, config.num_hidden_layers, config.num_attention_heads, config.hidden_size) == (8, 4, 4, 768)
    assert config.vocab_size == 4**8 + 5 and config.pad_token_id == 0 and config.model_type == "barcodebert"
    original = BarcodeBertConfig(k_mer=4, vocab_preset="original")
    assert original.vocab_size == 258 and original.pad_token_id == 1  # not [MASK]=0


def test_auto_classes_and_sdpa() -> None:
    config = AutoConfig.for_model("barcodebert", **TINY)
    assert isinstance(AutoModel.from_config(config), BarcodeBertModel)
    assert isinstance(AutoModelForMaskedLM.from_config(config), BarcodeBertForMaskedLM)
    assert isinstance(AutoModelForSequenceClassification.from_config(config), BarcodeBertForSequenceClassification)
    assert BarcodeBertModel(config).config._attn_implementation == "sdpa"


def test_embedding_ignores_padding() -> None:
    torch.manual_seed(0)
    model = BarcodeBertModel(BarcodeBertConfig(**TINY)).eval()
    tok = KmerTokenizerFast(k=4)
    alone = tok(["ACGTACGTTTGA"], return_tensors="pt")
    padded = tok(["ACGTACGTTTGA", "A" * 200], padding=True, return_tensors="pt")
    torch.testing.assert_close(
        model.get_dna_embeddings(**alone)[0], model.get_dna_embeddings(**padded)[0], rtol=1e-5, atol=1e-5
    )
    model.get_dna_embeddings(**alone).sum().backward()  # no hidden torch.no_grad(): a probe can train through it
    assert model.embeddings.word_embeddings.weight.grad is not None
    out = model(**padded)
    assert out.pooler_output.shape == (2, 32) and out.last_hidden_state.shape[:2] == padded["input_ids"].shape


def _save(tmp_path: Path) -> tuple[Path, dict]:
    torch.manual_seed(0)
    model = BarcodeBertForMaskedLM(BarcodeBertConfig(**TINY)).eval()
    tok = KmerTokenizerFast(k=4)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    batch = tok(["ACGTACGTTTGA", "ACGTAC"], padding=True, return_tensors="pt")
    torch.save(model(**batch).logits, tmp_path / "expected.pt")
    return tmp_path, {k: v.tolist() for k, v in batch.items()}


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )


def test_round_trip_in_a_fresh_process(tmp_path: Path) -> None:
    folder, batch = _save(tmp_path)
    assert (folder / "model.safetensors").exists() and not list(folder.glob("*.bin"))
    result = _run(f"""
        import torch, bioscan_hf.models
        from transformers import AutoModelForMaskedLM, AutoTokenizer
        model = AutoModelForMaskedLM.from_pretrained({str(folder)!r}).eval()
        tok = AutoTokenizer.from_pretrained({str(folder)!r})
        batch = tok(["ACGTACGTTTGA", "ACGTAC"], padding=True, return_tensors="pt")
        assert batch["input_ids"].tolist() == {batch["input_ids"]}
        torch.testing.assert_close(model(**batch).logits, torch.load({str(folder / "expected.pt")!r}))
        print("ok")
    """)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_remote_code_loads_without_the_package(tmp_path: Path) -> None:
    folder, _ = _save(tmp_path)
    result = run_without_package(f"""
        import torch
        from transformers import AutoModelForMaskedLM, AutoTokenizer
        model = AutoModelForMaskedLM.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
        tok = AutoTokenizer.from_pretrained({str(folder)!r}, trust_remote_code=True)
        batch = tok(["ACGTACGTTTGA", "ACGTAC"], padding=True, return_tensors="pt")
        torch.testing.assert_close(model(**batch).logits, torch.load({str(folder / "expected.pt")!r}))
        assert "bioscan_hf" not in sys.modules
        print(type(model).__module__)
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "transformers_modules" in result.stdout


def test_sequence_classification_loss() -> None:
    model = BarcodeBertForSequenceClassification(BarcodeBertConfig(**TINY, num_labels=3))
    tok = KmerTokenizerFast(k=4)
    batch = tok(["ACGTACGT", "TTTTGGGG"], padding=True, return_tensors="pt")
    out = model(**batch, labels=torch.tensor([0, 2]))
    assert out.logits.shape == (2, 3) and out.loss.item() > 0
    out.loss.backward()


def test_sparse_prediction_gives_the_same_loss() -> None:
    torch.manual_seed(0)
    model = BarcodeBertForMaskedLM(BarcodeBertConfig(**TINY)).eval()
    tok = KmerTokenizerFast(k=4)
    batch = tok(["ACGTACGTTTGAACGT", "ACGTAC"], padding=True, return_tensors="pt")
    labels = batch["input_ids"].clone()
    labels[:, ::2] = -100
    sparse = model(**batch, labels=labels)
    model.config.sparse_prediction = False
    dense = model(**batch, labels=labels)
    torch.testing.assert_close(sparse.loss, dense.loss)
    assert sparse.logits.shape == ((labels != -100).sum().item(), model.config.vocab_size)
    assert dense.logits.shape == (*labels.shape, model.config.vocab_size)


def test_encoder_loads_quietly_from_a_pretraining_checkpoint(tmp_path: Path) -> None:
    folder, _ = _save(tmp_path)
    encoder, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    assert not info["unexpected_keys"] and not info["missing_keys"]  # the unused MLM head is expected: no report
    trained = BarcodeBertForMaskedLM.from_pretrained(folder)
    torch.testing.assert_close(
        encoder.embeddings.word_embeddings.weight, trained.bert.embeddings.word_embeddings.weight
    )
    _, info = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3, output_loading_info=True)
    assert set(info["missing_keys"]) == {"classifier.weight", "classifier.bias"}  # a new head is still reported
