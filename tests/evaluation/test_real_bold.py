"""The DNA encoders on the real BOLD barcodes (../shared/data; skipped where it is absent): a transformers
DNA model (hf:) and the k-mer profile through `evaluate knn`, whose one search over distinct barcodes
must predict what a full search per rank over every record predicts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import tiny_bert_dna

from bioscan_hf.cli import main

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def bold_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import BOLD_TSV

    if not BOLD_TSV.exists():
        pytest.skip(f"real BOLD barcodes not found at {BOLD_TSV} (../shared/data is absent in a fresh clone)")
    from bioscan_hf.data.bold import import_bold
    from bioscan_hf.data.publish import prepare

    work = tmp_path_factory.mktemp("bold")
    import_bold([BOLD_TSV], work / "release", unlabelled_fraction=0.3, seed=0)
    prepare(work / "release", work / "dataset", configs=["metadata"])
    return work / "dataset"


@pytest.mark.parametrize("spec", ["kmer4", "hf"])
def test_dna_encoders_on_real_barcodes(bold_dataset: Path, tmp_path: Path, spec: str) -> None:
    from bioscan_hf.data.prepared import load_prepared, rank_values
    from bioscan_hf.embedding import load_encoder
    from bioscan_hf.evaluation.nearest import knn_probe
    from bioscan_hf.evaluation.protocols.knn import KNN_RANKS

    model = f"hf:{tiny_bert_dna(tmp_path / 'dnabert', max_length=1024)}" if spec == "hf" else spec
    out = tmp_path / "eval"
    assert main(["evaluate", "knn", "--dataset", str(bold_dataset), "--model", model, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    data = load_prepared(bold_dataset)
    keys, queries = data["train"], data["test_unseen"]
    assert len(set(keys["dna_barcode"][:])) < 0.6 * keys.num_rows  # real exports repeat barcodes
    encoder = load_encoder(model, device="cpu")
    key_vectors = encoder.embed_dna(keys["dna_barcode"][:], progress=False)
    query_vectors = encoder.embed_dna(queries["dna_barcode"][:], progress=False)
    for rank in KNN_RANKS:  # every record embedded and searched, one rank at a time
        full = knn_probe(key_vectors, rank_values(keys, rank), query_vectors, rank_values(queries, rank))
        assert metrics[f"knn_{rank}_micro"] == pytest.approx(full["micro"], abs=1e-9), rank
        assert metrics[f"knn_{rank}_macro"] == pytest.approx(full["macro"], abs=1e-9), rank
    assert np.isfinite(key_vectors).all()
