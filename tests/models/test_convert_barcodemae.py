"""Converting BarcodeMAE checkpoints, built in the authors' layout inside each test: the converted folder
must give the embeddings of their k-NN pipeline (re-implemented here from barcodebert/datasets.py and
knn_probing.py of github.com/bioscan-ml/BarcodeMAE)."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel, BertConfig, BertForTokenClassification, BertModel

from bioscan_hf.cli import main
from bioscan_hf.embedding import load_encoder
from bioscan_hf.models.barcodebert import BarcodeBertModel
from bioscan_hf.models.barcodebert.convert_barcodemae import convert_barcodemae
from bioscan_hf.models.checkpoints import ConversionError

K = 4
ENCODER = {
    "vocab_size": 4**K + 2,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "hidden_size": 32,
    "intermediate_size": 64,
    "max_position_embeddings": 512,
    "output_hidden_states": True,
}
OPTIONS = {
    "arch": "maelm",
    "tokenizer": "kmer",
    "k_mer": K,
    "stride": K,
    "max_len": 660,
    "tokenize_n_nucleotide": False,
    "predict_n_nucleotide": False,
    "dataset_name": "BIOSCAN-5M",
    "n_layers": 2,
    "n_heads": 2,
}
BARCODES = ["ACGTTGCA" * 40 + "AC", "AACCGGTTRA" * 30, "ACGT" * 200, "TTGACCANNA" * 12 + "GGC"]


def _encoder() -> BertModel:
    torch.manual_seed(0)
    return BertModel(BertConfig(**ENCODER)).eval()


def _save_release(encoder: BertModel, path: Path, **options) -> None:
    """What their `safe_save_model` writes for arch maelm: the encoder, optimiser state, options, BERT config."""
    optimizer = torch.optim.AdamW(encoder.parameters())
    torch.save(
        {
            "model": encoder.state_dict(),
            "optimizer": optimizer.state_dict(),
            "config": argparse.Namespace(**(OPTIONS | options)),
            "epoch": 3,
            "bert_config": encoder.config.to_dict(),
        },
        path,
    )


def _their_embeddings(encoder: BertModel, barcodes: list[str]) -> np.ndarray:
    """Their KmerTokenizer (pad with N to 660 nt, mask after len // k tokens, non-overlapping k-mers,
    `[MASK] [UNK]` + k-mers, anything else `[UNK]`) and their masked mean of `hidden_states[-1]`."""
    vocab = {"".join(p): i + 2 for i, p in enumerate(itertools.product("ACGT", repeat=K))}
    vectors = []
    for barcode in barcodes:
        x = barcode[:660]
        mask = [1] * (660 // K)
        if len(barcode) <= 660:
            mask[len(x) // K :] = [0] * (len(mask) - len(x) // K)
            x = x + "N" * (660 - len(x))
        ids = torch.tensor([[vocab.get(x[i : i + K], 1) for i in range(0, len(x) - K + 1, K)]])
        att = torch.tensor([mask])
        with torch.no_grad():
            hidden = encoder(ids, att).hidden_states[-1]
        vectors.append(((hidden * att.unsqueeze(-1)).sum(1) / att.sum(1, keepdim=True)).numpy()[0])
    return np.stack(vectors)


def test_release_layout_gives_their_embeddings(tmp_path: Path) -> None:
    encoder = _encoder()
    _save_release(encoder, tmp_path / "best_pretraining.pt")
    report = convert_barcodemae(tmp_path / "best_pretraining.pt", tmp_path / "mae")
    assert report["target"] == "BarcodeBertModel" and report["k"] == K
    assert report["release"].startswith("BarcodeMAE 4-2-2") and report["options"] == "read from the checkpoint"
    assert set(report["dropped_keys"]) == {"pooler.dense.weight", "pooler.dense.bias"}
    assert isinstance(AutoModel.from_pretrained(tmp_path / "mae"), BarcodeBertModel)
    ours = load_encoder(str(tmp_path / "mae")).embed_dna(BARCODES, progress=False)
    np.testing.assert_allclose(ours, _their_embeddings(encoder, BARCODES), rtol=1e-4, atol=1e-5)


def test_whole_autoencoder_keeps_the_encoder(tmp_path: Path) -> None:
    encoder = _encoder()
    decoder = BertForTokenClassification(BertConfig(**dict(ENCODER, num_labels=4**K)))
    state = {f"module.encoder.{k}": v for k, v in encoder.state_dict().items()}
    state |= {f"module.decoder.{k}": v for k, v in decoder.state_dict().items()}
    state |= {"module.projection_layer.weight": torch.zeros(32, 32), "module.encoder_embedding.weight": torch.zeros(1)}
    torch.save({"model": state, "bert_config": encoder.config.to_dict()}, tmp_path / "full.pt")
    report = convert_barcodemae(tmp_path / "full.pt", tmp_path / "mae")
    assert "projection_layer.weight" in report["dropped_keys"] and "decoder.classifier.weight" in report["dropped_keys"]
    assert "assumed those of the paper's run" in report["options"]
    ours = load_encoder(str(tmp_path / "mae")).embed_dna(BARCODES[:2], progress=False)
    np.testing.assert_allclose(ours, _their_embeddings(encoder, BARCODES[:2]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"arch": "transformer"}, "not a BarcodeMAE run.*convert-barcodebert"),
        ({"tokenizer": "bpe"}, "only k-mer runs convert"),
        ({"tokenize_n_nucleotide": True}, "tokenize_n_nucleotide"),
        ({"stride": 1}, "stride 1 ≠ k_mer 4"),
        ({"k_mer": 6, "stride": 6}, "k_mer=6 but the vocabulary is that of k=4"),
    ],
)
def test_runs_it_cannot_reproduce_are_refused(tmp_path: Path, options: dict, message: str) -> None:
    _save_release(_encoder(), tmp_path / "run.pt", **options)
    with pytest.raises(ConversionError, match=message):
        convert_barcodemae(tmp_path / "run.pt", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_damaged_file_is_named(tmp_path: Path) -> None:
    _save_release(_encoder(), tmp_path / "run.pt")
    data = (tmp_path / "run.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ConversionError, match=r"cut\.pt: not a readable torch checkpoint"):
        convert_barcodemae(tmp_path / "cut.pt", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _save_release(_encoder(), tmp_path / "best_pretraining.pt")
    assert main(["convert-barcodemae", str(tmp_path / "best_pretraining.pt"), "--out", str(tmp_path / "mae")]) == 0
    printed = capsys.readouterr().out
    assert "BarcodeMAE 4-2-2" in printed and "pooling: mean over real tokens" in printed
    assert "training options read from the checkpoint" in printed
