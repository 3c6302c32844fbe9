"""Zero-shot clustering (BIOSCAN-5M §5): UMAP to 50 dimensions → Ward clustering → AMI per rank.

The straightforward pipeline (scikit-learn's `AgglomerativeClustering(linkage="ward")`, once per rank)
builds an n² distance matrix — 9 GB at the 47,260 points of test + test_unseen — and repeats the
clustering for each rank. Here one Ward tree is built with fastcluster's `linkage_vector` (the nearest-
neighbour-chain algorithm on the raw vectors: O(n·d) memory, a tuned C++ loop) and cut at the number of
true classes of every rank, which gives the same partitions as scikit-learn's Ward (both are exact).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import fastcluster
import numpy as np
from scipy.cluster.hierarchy import fcluster
from sklearn.metrics import adjusted_mutual_info_score

from bioscan_hf.core.errors import EvaluationError
from bioscan_hf.core.vectors import check_embeddings

UMAP_DIMENSIONS, UMAP_NEIGHBOURS, UMAP_MIN_DIST = 50, 30, 0.0


def zscore(vectors: np.ndarray) -> np.ndarray:
    """Element-wise z-score per dimension (used before concatenating embeddings of different models)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    std = vectors.std(axis=0)
    return ((vectors - vectors.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype(np.float32)


def combine(embeddings: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate several embeddings of the same records after z-scoring each (image + DNA)."""
    lengths = {len(e) for e in embeddings}
    if len(lengths) != 1:
        raise EvaluationError(f"embeddings to combine have different numbers of rows: {sorted(lengths)}")
    return np.concatenate([zscore(e) for e in embeddings], axis=1)


def reduce_umap(vectors: np.ndarray, seed: int = 0, n_components: int = UMAP_DIMENSIONS) -> np.ndarray:
    """UMAP to `n_components` dimensions (30 neighbours, min_dist 0, fixed seed), as in the paper."""
    import umap  # here, not at the top: umap-learn compiles with numba on import (seconds per process)

    vectors = check_embeddings("embeddings", vectors)
    n_components = min(n_components, len(vectors) - 2)
    reducer = umap.UMAP(
        n_components=n_components,
        n_neighbors=min(UMAP_NEIGHBOURS, len(vectors) - 1),
        min_dist=UMAP_MIN_DIST,
        random_state=seed,
        n_jobs=1,  # a fixed seed makes UMAP single-threaded anyway; saying so avoids its warning
        metric="euclidean",
    )
    return reducer.fit_transform(vectors).astype(np.float64)


def ward_tree(points: np.ndarray) -> np.ndarray:
    """The Ward linkage matrix of `points` (Euclidean), without an n² distance matrix."""
    return fastcluster.linkage_vector(np.asarray(points, dtype=np.float64), method="ward", metric="euclidean")


def cluster_ami(points: np.ndarray, labels: Mapping[str, Sequence], missing: object = None) -> dict[str, float]:
    """AMI between Ward clusters and each rank's labels, clusters per rank = its number of true classes.

    The tree is built once on all points; for each rank, records without a label at that rank are left
    out of the score (their points still shape the tree, as in the paper's protocol on a fixed set).
    """
    points = check_embeddings("points", points)
    tree = ward_tree(points)
    return {
        rank: labels_ami(values, fcluster(tree, t=n_classes, criterion="maxclust"), missing)
        for rank, values, n_classes in _ranks_to_score(labels, len(points), missing)
    }


def clusters_ami(clusters: np.ndarray, labels: Mapping[str, Sequence], missing: object = None) -> dict[str, float]:
    """AMI between one given clustering (a cluster per record, e.g. BIN-like clusters of the barcodes) and
    each rank's labels; records without a label at a rank are left out of its score, as in `cluster_ami`."""
    return {
        rank: labels_ami(values, clusters, missing)
        for rank, values, _ in _ranks_to_score(labels, len(clusters), missing)
    }


def labels_ami(values: np.ndarray, clusters: np.ndarray, missing: object = None) -> float:
    """AMI between the labels `values` and `clusters` over the records that carry a label."""
    known = values != missing
    return float(adjusted_mutual_info_score(values[known].astype(str), np.asarray(clusters)[known]))


def _ranks_to_score(labels: Mapping[str, Sequence], size: int, missing: object):
    """(rank, labels as an array, number of classes) of each rank with at least two classes."""
    for rank, values in labels.items():
        values = np.asarray(values, dtype=object)
        if len(values) != size:
            raise EvaluationError(f"rank {rank}: {len(values)} labels for {size} points")
        n_classes = len(set(values[values != missing]))
        if n_classes >= 2:
            yield rank, values, n_classes


def zero_shot_clustering(
    embeddings: np.ndarray, labels: Mapping[str, Sequence], seed: int = 0, reduce: bool = True
) -> tuple[dict[str, float], np.ndarray]:
    """The paper's protocol end to end: (AMI per rank, the reduced points used)."""
    points = reduce_umap(embeddings, seed) if reduce else check_embeddings("embeddings", embeddings)
    return cluster_ami(points, labels), points
