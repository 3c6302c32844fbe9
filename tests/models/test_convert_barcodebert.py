"""Converting published BarcodeBERT layouts: hidden states must match transformers' own BERT."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, BertConfig, BertForMaskedLM, BertForTokenClassification

from bioscan_hf.models.barcodebert import BarcodeBertForMaskedLM, BarcodeBertModel
from bioscan_hf.models.barcodebert.convert_barcodebert import ConversionError, convert_barcodebert

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
    with pytest.raises(ConversionError, match="not 4\\*\\*k \\+ 2"):
        convert_barcodebert(tmp_path / "y.pth", tmp_path / "out")
    torch.save({"model": {}}, tmp_path / "z.pth")
    with pytest.raises(ConversionError, match="no BERT config"):
        convert_barcodebert(tmp_path / "z.pth", tmp_path / "out")
