"""Converting published BarcodeBERT layouts: hidden states must match transformers' own BERT."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, BertConfig, BertForMaskedLM, BertForTokenClassification

from bioscan_hf.models.barcodebert import BarcodeBertForMaskedLM, BarcodeBertModel
from bioscan_hf.models.barcodebert.convert_barcodebert import convert_barcodebert
from bioscan_hf.models.checkpoints import ConversionError

ORIGINAL = {
    "vocab_size": 4**4 + 2,
    "hidden_size": 48,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 96,
    "max_position_embeddings": 512,
}


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    ids = torch.randint(2, ORIGINAL["vocab_size"], (3, 20))
    mask = torch.ones_like(ids)
    mask[1, 15:] = 0
    return ids, mask


def test_hub_layout_token_classification(tmp_path: Path) -> None:
    torch.manual_seed(1)
    original = BertForTokenClassification(BertConfig(**ORIGINAL, num_labels=ORIGINAL["vocab_size"])).eval()
    original.save_pretrained(tmp_path / "hub")
    report = convert_barcodebert(tmp_path / "hub", tmp_path / "ours")
    assert report["target"] == "BarcodeBertModel" and report["k"] == 4
    assert set(report["dropped_keys"]) >= {"classifier.weight", "classifier.bias"}
    ours = AutoModel.from_pretrained(tmp_path / "ours").eval()
    assert isinstance(ours, BarcodeBertModel)
    ids, mask = _inputs()
    with torch.no_grad():
        expected = original.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        got = ours(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    tok = AutoTokenizer.from_pretrained(tmp_path / "ours")
    assert tok("AAAAACGT")["input_ids"] == [2, 2 + 27]  # the published vocabulary order


def test_training_pth_with_ddp_prefix(tmp_path: Path) -> None:
    torch.manual_seed(2)
    original = BertForMaskedLM(BertConfig(**ORIGINAL)).eval()
    state = {f"module.{k}": v for k, v in original.state_dict().items()}
    torch.save({"model": state, "config": ORIGINAL, "epoch": 35}, tmp_path / "ckpt.pth")
    report = convert_barcodebert(tmp_path / "ckpt.pth", tmp_path / "ours")
    assert report["target"] == "BarcodeBertForMaskedLM"
    ours = BarcodeBertForMaskedLM.from_pretrained(tmp_path / "ours").eval()
    ids, mask = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(
            ours(input_ids=ids, attention_mask=mask).logits,
            original(input_ids=ids, attention_mask=mask).logits,
            rtol=1e-5,
            atol=1e-5,
        )


def test_legacy_switch_reproduces_unmasked_embeddings(tmp_path: Path) -> None:
    original = BertForMaskedLM(BertConfig(**ORIGINAL)).eval()
    torch.save({"state_dict": original.state_dict(), "bert_config": ORIGINAL}, tmp_path / "c.pt")
    convert_barcodebert(tmp_path / "c.pt", tmp_path / "ours", legacy_attend_to_padding=True)
    ours = BarcodeBertForMaskedLM.from_pretrained(tmp_path / "ours").eval()
    ids, mask = _inputs()
    with torch.no_grad():
        legacy = original.bert(input_ids=ids).last_hidden_state.mean(dim=1)  # the original code's embedding
        torch.testing.assert_close(ours.get_dna_embeddings(ids, mask), legacy, rtol=1e-5, atol=1e-5)


def test_unknown_layout_names_the_keys(tmp_path: Path) -> None:
    torch.save({"model": {"transformer.h.0.weight": torch.zeros(2)}, "config": ORIGINAL}, tmp_path / "x.pth")
    with pytest.raises(ConversionError, match=r"cannot map 1 key\(s\) onto BarcodeBERT: transformer.h.0.weight"):
        convert_barcodebert(tmp_path / "x.pth", tmp_path / "out")
    bad = dict(ORIGINAL, vocab_size=300)
    torch.save({"model": BertForMaskedLM(BertConfig(**bad)).state_dict(), "config": bad}, tmp_path / "y.pth")
    with pytest.raises(ConversionError, match="neither 4\\*\\*k \\+ 2 nor 4\\*\\*k \\+ 3"):
        convert_barcodebert(tmp_path / "y.pth", tmp_path / "out")
    torch.save({"model": {}}, tmp_path / "z.pth")
    with pytest.raises(ConversionError, match="no BERT config inside the file and no BERT weights"):
        convert_barcodebert(tmp_path / "z.pth", tmp_path / "out")


def _original_v1_ids(sequence: str, k: int) -> list[int]:
    """The first release's input pipeline, written out: pad with N to 660 nt (or cut), non-overlapping
    k-mers, vocabulary <MASK> <CLS> <UNK> then the k-mers (anything else <UNK>), and a leading 0."""
    vocab = {"".join(p): i + 3 for i, p in enumerate(itertools.product("ACGT", repeat=k))}
    padded = sequence[:660] + "N" * max(0, 660 - len(sequence))
    return [0] + [vocab.get(padded[i : i + k], 2) for i in range(0, len(padded) - k + 1, k)]


def test_first_release_without_config_is_recognised(tmp_path: Path) -> None:
    """The k=4/5/6 paper models (and the k=5 model CLIBD starts from): a bare state dict with `module.`
    prefixes and no config; vocabulary 4**k + 3; embeddings averaged over all 133 positions."""
    torch.manual_seed(3)
    config = dict(ORIGINAL, vocab_size=4**4 + 3, hidden_size=128, num_attention_heads=2, max_position_embeddings=200)
    original = BertForMaskedLM(BertConfig(**config)).eval()
    torch.save({f"module.{k}": v for k, v in original.state_dict().items()}, tmp_path / "new_model_4.pth")
    report = convert_barcodebert(tmp_path / "new_model_4.pth", tmp_path / "ours")
    assert report["vocab_preset"] == "v1" and report["k"] == 4 and "padding included" in report["pooling"]
    ours = AutoModel.from_pretrained(tmp_path / "ours").eval()
    assert ours.config.release.startswith("BarcodeBERT v1 4-2-2") and ours.config.legacy_attend_to_padding
    assert ours.config.num_attention_heads == 2  # hidden 128 / 64, as the release's 768 / 64 = 12
    tok = AutoTokenizer.from_pretrained(tmp_path / "ours")
    barcodes = ["ACGTACGTNNACGGT", "ACGRACGTTTGA" * 70, "TTTTAAAACCCC"]
    batch = tok(barcodes, padding="max_length", return_tensors="pt")
    assert batch["input_ids"].tolist() == [_original_v1_ids(b, 4) for b in barcodes]
    with torch.no_grad():
        expected = original.bert(input_ids=batch["input_ids"]).last_hidden_state.mean(dim=1)
        torch.testing.assert_close(ours.get_dna_embeddings(**batch), expected, rtol=1e-5, atol=1e-5)


def test_a_clibd_checkpoint_is_sent_to_convert_clibd(tmp_path: Path) -> None:
    torch.save(
        {"dna_encoder.base_dna_encoder.bert.embeddings.word_embeddings.weight": torch.zeros(259, 8)},
        tmp_path / "best.pth",
    )
    with pytest.raises(ConversionError, match="is a CLIBD checkpoint: convert it with `bioscan-hf convert-clibd`"):
        convert_barcodebert(tmp_path / "best.pth", tmp_path / "out", config=ORIGINAL)
