"""A converted BarcodeMamba folder works in every command through the embedding layer: evaluate (knn,
linear), embed, index, identify --model, tables — with the embeddings its own model gives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from helpers import tiny_barcodemamba

from bioscan_hf.cli import main
from bioscan_hf.data.prepared import load_prepared
from bioscan_hf.embedding import ENCODER_FAMILIES, load_encoder
from bioscan_hf.models.barcodemamba import BarcodeMambaModel
from bioscan_hf.models.barcodemamba.tokenization_barcodemamba import tokenizer_for


def test_barcodemamba_folder_in_every_command(prepared: Path, tmp_path: Path) -> None:
    model = str(tiny_barcodemamba(tmp_path / "barcodemamba"))
    assert "barcodemamba" in [family.name for family in ENCODER_FAMILIES]
    assert main(["evaluate", "knn", "--dataset", str(prepared), "--model", model, "--out", str(tmp_path / "knn")]) == 0
    metrics = json.loads((tmp_path / "knn" / "metrics.json").read_text())
    assert 0.0 <= metrics["knn_genus_micro"] <= 1.0
    args = ["evaluate", "linear", "--dataset", str(prepared), "--model", model, "--out", str(tmp_path / "linear")]
    assert main(args) == 0

    stored = tmp_path / "emb.parquet"
    assert main(["embed", str(prepared), "--split", "test", "--model", model, "--out", str(stored)]) == 0
    barcodes = load_prepared(prepared)["test"]["dna_barcode"][:]
    vectors = np.stack(pd.read_parquet(stored)["embedding"].to_numpy())
    direct = BarcodeMambaModel.from_pretrained(model).eval()
    tokens = tokenizer_for(direct.config)(barcodes[:5], return_tensors="pt")
    with torch.no_grad():
        expected = direct.get_dna_embeddings(**tokens).numpy()
    np.testing.assert_allclose(vectors[:5], expected, rtol=1e-4, atol=1e-5)
    assert load_encoder(model).dna_dim == 16

    assert main(["index", "--dataset", str(prepared), "--model", model, "--out", str(tmp_path / "index")]) == 0
    calls = tmp_path / "calls.tsv"
    args = ["identify", str(prepared), "--reference", str(prepared), "--model", model, "--out", str(calls)]
    assert main(args) == 0
    assert len(pd.read_csv(calls, sep="\t")) == len(barcodes)

    assert main(["tables", str(tmp_path / "knn"), str(tmp_path / "linear"), "--out", str(tmp_path / "tables")]) == 0
    text = (tmp_path / "tables" / "tables.md").read_text()
    assert "barcodemamba" in text and "BarcodeMamba (best linear probe" in text and "CANADA-1.5M" in text
