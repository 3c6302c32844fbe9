"""Clustering against the straightforward scikit-learn pipeline, k-mer profiles, alignment, linear probe."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_mutual_info_score

from bioscan_hf.core.errors import EvaluationError
from bioscan_hf.embedding.kmer import kmer_profiles
from bioscan_hf.evaluation.baselines import alignment_nearest
from bioscan_hf.evaluation.clustering import cluster_ami, combine, zero_shot_clustering
from bioscan_hf.evaluation.probes import linear_probe
from bioscan_hf.search.align import alignment_identity


def _blobs(n_per: int = 40, n_classes: int = 6, dim: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4, size=(n_classes, dim))
    labels = np.repeat(np.arange(n_classes), n_per)
    points = centres[labels] + rng.normal(size=(len(labels), dim))
    coarse = labels // 2
    return points, {"genus": [f"g{c}" for c in coarse], "species": [f"s{c}" for c in labels]}


def test_ward_matches_scikit_learn() -> None:
    points, labels = _blobs()
    ours = cluster_ami(points, labels)
    for rank, values in labels.items():
        n = len(set(values))
        reference = AgglomerativeClustering(n_clusters=n, linkage="ward").fit_predict(points)
        assert ours[rank] == pytest.approx(adjusted_mutual_info_score(values, reference), abs=1e-9)


def test_umap_pipeline_matches_scikit_learn_within_001() -> None:
    import umap

    points, labels = _blobs(n_per=50, dim=30)
    ours, reduced = zero_shot_clustering(points, labels, seed=0)
    reference_points = umap.UMAP(n_components=50, n_neighbors=30, min_dist=0.0, random_state=0).fit_transform(points)
    for rank, values in labels.items():
        clusters = AgglomerativeClustering(n_clusters=len(set(values)), linkage="ward").fit_predict(reference_points)
        assert abs(ours[rank] - adjusted_mutual_info_score(values, clusters)) < 0.01
    assert reduced.shape == (len(points), 50)


def test_combine_zscores_and_checks_rows() -> None:
    a, b = np.arange(12.0).reshape(6, 2), np.ones((6, 3))
    joined = combine([a, b])
    assert joined.shape == (6, 5) and np.allclose(joined[:, :2].mean(axis=0), 0)
    with pytest.raises(EvaluationError, match="different numbers of rows"):
        combine([a, np.ones((5, 3))])
    with pytest.raises(EvaluationError, match="labels for"):
        cluster_ami(np.random.default_rng(0).normal(size=(10, 3)), {"species": ["a"] * 9})


def test_kmer_profiles_count_overlapping_kmers() -> None:
    profile = kmer_profiles(["AAAAC", "ACGNACG"], k=2)
    index = {"".join(p): i for i, p in enumerate(itertools.product("ACGT", repeat=2))}
    first = np.zeros(16)
    first[index["AA"]], first[index["AC"]] = 3, 1
    np.testing.assert_allclose(profile[0], first / np.linalg.norm(first), rtol=1e-6)
    second = np.zeros(16)
    second[index["AC"]], second[index["CG"]] = 2, 2  # k-mers with N are skipped
    np.testing.assert_allclose(profile[1], second / np.linalg.norm(second), rtol=1e-6)


def test_alignment_identity_and_search() -> None:
    assert alignment_identity("ACGTACGT", "ACGTACGT") == 1.0
    assert alignment_identity("ACGTTCGT", "ACGTACGT") == pytest.approx(7 / 8)
    assert alignment_identity("GTAC", "NNACGTACGTNN") == 1.0  # partial read inside a longer barcode
    rng = np.random.default_rng(0)
    keys = ["".join(rng.choice(list("ACGT"), 200)) for _ in range(30)]
    queries = [k[:150] for k in keys[:10]]
    best, identity = alignment_nearest(keys, queries, candidates=5, progress=False)
    assert best.tolist() == list(range(10)) and np.allclose(identity, 1.0)


def test_linear_probe() -> None:
    points, labels = _blobs()
    species = np.array(labels["species"], dtype=object)
    train, test = np.arange(len(points)) % 2 == 0, np.arange(len(points)) % 2 == 1
    result = linear_probe(points[train], species[train], points[test], species[test])
    assert result["micro"] > 0.9 and result["n_test"] == test.sum()
    with pytest.raises(EvaluationError, match="two labelled classes"):
        linear_probe(points[:3], ["a", "a", None], points[:3], ["a"] * 3)


def test_bin_like_clusters_on_the_zero_shot_protocol(prepared, tmp_path) -> None:
    """The baselines' clustering row: test + test_unseen's barcodes grouped as `bioscan-hf cluster` groups
    them (the same partition as the command's on a FASTA of those records), scored by AMI per rank over the
    records labelled at that rank."""
    import datasets
    import pandas as pd

    from bioscan_hf.clusters import cluster
    from bioscan_hf.data.prepared import load_prepared, rank_values
    from bioscan_hf.evaluation.protocols.baselines import bin_clusters_task

    data = load_prepared(prepared)
    metrics = bin_clusters_task(data)
    records = datasets.concatenate_datasets([data["test"], data["test_unseen"]])
    fasta = tmp_path / "records.fasta"
    fasta.write_text("".join(f">r{n}\n{b}\n" for n, b in enumerate(records["dna_barcode"])))
    found = pd.read_csv(cluster(fasta, tmp_path / "c.tsv", progress=False).out, sep="\t")["cluster"]
    assert metrics["clusters_count"] == found.nunique() > 1
    for rank in ("genus", "species", "dna_bin"):
        labels = np.array(rank_values(records, rank), dtype=object)
        known = labels != None  # noqa: E711 (elementwise)
        expected = adjusted_mutual_info_score(labels[known].astype(str), found.to_numpy()[known])
        assert metrics[f"clusters_ami_{rank}"] == pytest.approx(expected, abs=1e-9)
    assert metrics["clusters_ami_species"] > 0.5  # the sample's species are separated barcodes
