"""Every protocol with encoders from outside the toolkit: a transformers DNA model (hf:), a timm image model
with a local weights file, a transformers ViT folder; image clustering and image × DNA concatenation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import tiny_bert_dna, tiny_timm_weights, tiny_vit_folder

from bioscan_hf.cli import main


def _metrics(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def test_hf_dna_model_through_knn_linear_and_cluster(prepared: Path, tmp_path: Path) -> None:
    model = f"hf:{tiny_bert_dna(tmp_path / 'dnabert', max_length=1024)}"
    out = tmp_path / "eval"
    args = ["evaluate", "all", "--dataset", str(prepared), "--model", model, "--pooling", "cls", "--out", str(out)]
    assert main(args) == 0
    metrics = _metrics(out)
    for key in ("knn_genus_micro", "linear_species_macro", "baseline_align_knn_genus_micro"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert -1.0 <= metrics["cluster_ami_genus"] <= 1.0  # adjusted for chance: a random model may score below 0
    from bioscan_hf.data.prepared import load_prepared, rank_values
    from bioscan_hf.embedding import load_encoder
    from bioscan_hf.evaluation.nearest import knn_probe
    from bioscan_hf.evaluation.protocols.knn import KNN_RANKS

    data = load_prepared(prepared)  # the CLS pooling reached the scores: recompute 1-NN with it
    encoder = load_encoder(model, pooling="cls", device="cpu")
    keys, queries = (encoder.embed_dna(data[s]["dna_barcode"], progress=False) for s in ("train", "test_unseen"))
    for rank in KNN_RANKS:
        expected = knn_probe(keys, rank_values(data["train"], rank), queries, rank_values(data["test_unseen"], rank))
        assert metrics[f"knn_{rank}_micro"] == pytest.approx(expected["micro"])


@pytest.mark.parametrize("image_model", ["timm", "hf"])
def test_image_encoder_clusters_images_and_concatenates_with_dna(
    prepared: Path, tmp_path: Path, image_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if image_model == "timm":
        spec = f"timm:test_vit:{tiny_timm_weights(tmp_path / 'test_vit.safetensors')}"
    else:
        spec = f"hf:{tiny_vit_folder(tmp_path / 'vit')}"
    out = tmp_path / "images"
    assert main(["evaluate", "cluster", "--dataset", str(prepared), "--model", spec, "--out", str(out)]) == 0
    alone = _metrics(out)
    assert alone["cluster_undecodable_images"] == 0 and -1.0 <= alone["cluster_ami_genus"] <= 1.0
    from bioscan_hf.evaluation.protocols import cluster as dna

    seen = {}
    original = dna.zero_shot_clustering

    def capture(vectors, labels, seed=0):
        seen["vectors"] = vectors
        return original(vectors, labels, seed=seed)

    monkeypatch.setattr(dna, "zero_shot_clustering", capture)
    both = tmp_path / "both"
    args = ["evaluate", "cluster", "--dataset", str(prepared), "--model", spec, "--concat-model", "kmer4"]
    assert main([*args, "--out", str(both)]) == 0
    from bioscan_hf.data.prepared import load_prepared
    from bioscan_hf.embedding import load_encoder
    from bioscan_hf.evaluation.clustering import combine

    data = load_prepared(prepared, "cropped_256")
    names = ["test", "test_unseen"]
    encoder = load_encoder(spec, device="cpu")
    images = np.concatenate([encoder.embed_image_records(data[s])[0] for s in names])
    barcodes = np.concatenate([load_encoder("kmer4").embed_dna(data[s]["dna_barcode"]) for s in names])
    np.testing.assert_allclose(seen["vectors"], combine([images, barcodes]), rtol=1e-4, atol=1e-4)


def test_image_only_encoder_refuses_barcode_tasks(prepared: Path, tmp_path: Path, capsys) -> None:
    spec = f"timm:test_vit:{tiny_timm_weights(tmp_path / 'test_vit.safetensors')}"
    assert main(["evaluate", "knn", "--dataset", str(prepared), "--model", spec, "--out", str(tmp_path / "o")]) == 1
    assert "does not embed barcodes" in capsys.readouterr().err


def test_index_and_search_with_an_hf_dna_model(prepared: Path, tmp_path: Path) -> None:
    from bioscan_hf.search import Searcher

    model = tiny_bert_dna(tmp_path / "dnabert", max_length=1024)
    index = tmp_path / "index"
    args = ["index", "--dataset", str(prepared), "--model", f"hf:{model}", "--pooling", "cls", "--out", str(index)]
    assert main(args) == 0
    info = json.loads((index / "index.json").read_text())
    assert info["model"] == "hf:model" and info["pooling"] == "cls" and (index / "model" / "config.json").is_file()
    searcher = Searcher(index)  # queries embedded as the keys were: CLS pooling, the copied model
    assert searcher.encoder.pooling == "cls"
    key = searcher.keys.iloc[3]
    result = searcher.search_dna(key.dna_barcode, k=1)
    assert result.neighbours.similarity[0] == pytest.approx(1.0, abs=1e-4)
