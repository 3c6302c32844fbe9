"""`bioscan-hf evaluate` end to end on the sample: flat metrics.json in 0..1, table and plots; bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bioscan_hf.cli import main
from bioscan_hf.core.errors import EvaluationError
from bioscan_hf.embedding.kmer import KmerEncoder
from bioscan_hf.evaluation.encoders import evaluate_dna


def test_evaluate_all_with_kmer_profile(prepared: Path, tmp_path: Path) -> None:
    assert main(["evaluate", "all", "--dataset", str(prepared), "--model", "kmer6", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in (
        "knn_genus_micro",
        "knn_genus_macro",
        "linear_species_micro",
        "cluster_ami_species",
        "baseline_align_knn_genus_micro",
        "baseline_kmer6_knn_genus_micro",
    ):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["knn_genus_micro"] == metrics["baseline_kmer6_knn_genus_micro"]
    for plot in ("accuracy_per_rank.png", "ami_per_rank.png", "umap_by_order.png"):
        assert (tmp_path / plot).stat().st_size > 5_000
    assert "| knn_genus_micro |" in (tmp_path / "metrics.md").read_text()


def test_align_has_no_embeddings(prepared: Path, tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="align has no embeddings"):
        evaluate_dna(prepared, "align", tmp_path, tasks=["linear"])
    metrics = evaluate_dna(prepared, "align", tmp_path, tasks=["knn"])
    assert 0.0 <= metrics["knn_genus_micro"] <= 1.0


def test_not_a_prepared_folder(tmp_path: Path) -> None:
    assert main(["evaluate", "knn", "--dataset", str(tmp_path), "--out", str(tmp_path / "o")]) == 1


def test_cluster_on_concatenated_embeddings(prepared: Path, tmp_path: Path) -> None:
    args = ["evaluate", "cluster", "--dataset", str(prepared), "--model", "kmer6", "--concat-model", "kmer4"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    assert 0.0 <= json.loads((tmp_path / "metrics.json").read_text())["cluster_ami_species"] <= 1.0


def test_concat_model_reaches_the_clustering(prepared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--concat-model` z-scores both models' embeddings and clusters their concatenation (not one alone)."""
    from bioscan_hf.data.prepared import load_prepared
    from bioscan_hf.evaluation.clustering import combine
    from bioscan_hf.evaluation.protocols import cluster as dna

    seen = {}

    def capture(vectors, labels, seed=0):
        seen["vectors"] = vectors
        return {rank: 0.5 for rank in labels}, None

    monkeypatch.setattr(dna, "zero_shot_clustering", capture)
    monkeypatch.setattr(dna, "reduce_umap", lambda vectors, seed=0, n_components=2: vectors[:, :2])
    data = load_prepared(prepared)
    dna.cluster_task(data, "kmer6", also=["kmer4"])
    six, four = KmerEncoder(6), KmerEncoder(4)
    names = [s for s in ("test", "test_unseen") if s in data]
    expected = combine([np.concatenate([e.embed_dna(data[s]["dna_barcode"]) for s in names]) for e in (six, four)])
    assert seen["vectors"].shape[1] == 4**6 + 4**4
    np.testing.assert_allclose(seen["vectors"], expected, rtol=1e-5)


def test_val_split_one_sample_per_barcode_and_closed_world_alignment(prepared: Path, tmp_path: Path) -> None:
    from bioscan_hf.core.barcodes import barcode_key
    from bioscan_hf.core.metrics import micro_macro_accuracy
    from bioscan_hf.data.prepared import load_prepared, rank_values
    from bioscan_hf.evaluation.baselines import alignment_nearest
    from bioscan_hf.evaluation.protocols.base import one_per_barcode
    from bioscan_hf.evaluation.protocols.baselines import closed_world_task

    args = ["evaluate", "baselines", "--dataset", str(prepared), "--split", "val", "--one-sample-per-barcode"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["split"] == "val" and run["one_sample_per_barcode"] and run["model"] == "kmer6"
    data = one_per_barcode(load_prepared(prepared))
    for name, split in data.items():  # one record per barcode, the first of each
        keys = [barcode_key(b) for b in split["dna_barcode"]]
        assert len(keys) == len(set(keys)), name
    # the closed-world column, computed by hand: val queries labelled as their nearest train barcode
    best, _ = alignment_nearest(data["train"]["dna_barcode"], data["val"]["dna_barcode"])
    truth = np.array(rank_values(data["val"], "species"), dtype=object)
    keys = np.array(rank_values(data["train"], "species"), dtype=object)
    labelled = truth != None  # noqa: E711 (elementwise)
    micro, macro = micro_macro_accuracy(keys[best][labelled].astype(str), truth[labelled].astype(str))
    assert metrics["baseline_align_closed_species_micro"] == pytest.approx(micro)
    assert metrics["baseline_align_closed_species_macro"] == pytest.approx(macro)
    assert closed_world_task(data, "align", split="val") == {
        "closed_species_micro": pytest.approx(micro),
        "closed_species_macro": pytest.approx(macro),
    }
    assert "knn_genus_micro" not in metrics and 0.0 <= metrics["baseline_kmer6_knn_genus_micro"] <= 1.0


@pytest.mark.damaged_input
def test_a_missing_or_damaged_model_is_named_before_the_dataset_is_opened(tmp_path: Path, capsys) -> None:
    base = ["evaluate", "knn", "--dataset", str(tmp_path / "no-dataset"), "--out", str(tmp_path / "o")]
    assert main([*base, "--model", str(tmp_path / "no-model")]) == 1
    err = capsys.readouterr().err
    assert f"model folder {tmp_path / 'no-model'} not found" in err and "no-dataset" not in err
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_text('{"model_type": "barcodeb')
    assert main([*base, "--model", str(damaged)]) == 1
    err = capsys.readouterr().err
    assert f"{damaged / 'config.json'}: not valid JSON" in err and "damaged or truncated config.json" in err
    assert not (tmp_path / "o").exists()
