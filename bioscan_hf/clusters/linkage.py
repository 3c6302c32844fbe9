"""BIN-like clusters of distinct barcodes from their neighbour graph: refined single linkage (RESL's shape,
Ratnasingham & Hebert 2013).

1. Single linkage: two barcodes are joined when their alignment differs by at most `LINK_DISTANCE` (1.9%;
   BOLD cuts its BINs' single linkage at 2.2%, but its distances are not this engine's identity: on the real
   BOLD file 1.9% agreed best with BOLD's own BINs, chosen on half of the BINs and confirmed on the other
   half, BENCHMARKS.md); clusters are the connected components of those edges (the
   graph holds each barcode's nearest barcodes, so no pair is compared twice and none beyond its
   neighbourhood).
2. Refinement: a component with internal structure (two groups joined by a chain of intermediate
   barcodes) is split where Markov clustering (MCL) on its edges finds groups and the split's mean
   silhouette (distance to its own group against distance to the nearest other) reaches
   `SPLIT_SILHOUETTE`; among MCL's inflations the best-separated split is kept.

Distances are 1 − alignment identity. Within a component, pairs the graph does not hold are taken as
`LINK_DISTANCE` apart or more (they were not among each other's nearest), which the silhouette reads as
the farthest a member of one component can be.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

#: Barcodes closer than this are joined by single linkage (BOLD's BINs: 2.2% of their distance; 1.9% of
#: this engine's agreed best with them, module docstring).
LINK_DISTANCE = 0.019
#: A component is split where the split's mean silhouette reaches this (0.5 split more BINs on the real
#: BOLD file, chosen as `LINK_DISTANCE` was).
SPLIT_SILHOUETTE = 0.7
#: MCL inflations tried per component (higher: finer groups).
INFLATIONS = (1.4, 2.0, 3.0)
#: Components of fewer distinct barcodes than this, or more, are not refined (MCL is dense in the component).
MIN_REFINED = 4
MAX_REFINED = 2_000
#: MCL drops flow under this share of its column after each inflation, and goes sparse once under this
#: share of cells hold flow (`mcl`).
MCL_PRUNE = 1e-5
SPARSE_BELOW = 0.05
#: What the refining worker processes read (the edges, the distances, the threshold), set before they fork.
_REFINING: tuple | None = None
_LIMITS = None  # a refining worker process's thread limit, held while it lives


def linked(
    rows: np.ndarray, cols: np.ndarray, distances: np.ndarray, size: int, threshold: float = LINK_DISTANCE
) -> sp.csr_matrix:
    """The symmetric matrix of the pairs within `threshold` (each pair at the smaller of its measured
    distances, either way round, stored + 1e-9 so that 0 stays an edge). Each pair is kept once, as one
    64-bit number, until the matrix is made: at BIOSCAN-5M's size the graph holds ~10⁸ pairs, and sorting
    them both ways round as three arrays took more memory than the machine has."""
    keep = (distances <= threshold) & (rows != cols)
    low, high = np.minimum(rows[keep], cols[keep]).astype(np.int64), np.maximum(rows[keep], cols[keep])
    pair = low * size + high
    distance = distances[keep]
    del keep, low, high
    order = np.argsort(pair, kind="stable")
    pair, distance = pair[order], distance[order]
    del order
    if not len(pair):
        return sp.csr_matrix((size, size))
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    nearest = np.minimum.reduceat(distance, starts) + 1e-9
    pair = pair[starts]
    del distance, starts
    index = np.int32 if size < 2**31 else np.int64
    low, high = (pair // size).astype(index), (pair % size).astype(index)
    del pair
    indptr = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(low, minlength=size) + np.bincount(high, minlength=size), out=indptr[1:])
    indices, data = np.empty(indptr[-1], dtype=index), np.empty(indptr[-1])
    from bioscan_hf.clusters._kernels import fill_symmetric  # here: numba takes a fraction of a second to import

    fill_symmetric(low, high, nearest, indptr[:-1].copy(), indices, data)
    return sp.csr_matrix((data, indices, indptr), shape=(size, size))


def single_linkage(edges: sp.csr_matrix) -> np.ndarray:
    """Connected components of the edge matrix: a cluster number per barcode."""
    return connected_components(edges, directed=False)[1]


def mcl(similarity: np.ndarray, inflations: Sequence[float], iterations: int = 40) -> list[np.ndarray]:
    """Markov clustering of a dense similarity matrix (self-loops added) at each of `inflations`: a group
    number per row, for each.

    In 32-bit floats, flow under `MCL_PRUNE` dropped after each inflation (as the MCL program prunes), until
    no cell moves by more than 1e-5; once `SPARSE_BELOW` of the cells are left, in a sparse matrix (within
    a few iterations flow leaves most cells, and a dense product kept multiplying them). On the real BOLD
    file the same clusters as 64-bit dense MCL without pruning, in 0.35× the time (BENCHMARKS.md). The
    first expansion, the same for every inflation, is computed once (a dense product: a fifth of the
    products of a large component)."""
    start = (similarity + np.eye(len(similarity))).astype(np.float32)
    start /= start.sum(axis=0, keepdims=True)
    first = start @ start
    found = []
    for inflation in inflations:
        matrix = start
        for step in range(iterations):
            expanded = first.copy() if step == 0 else matrix @ matrix  # (`_inflated` works in place)
            inflated = _inflated(expanded, inflation)
            settled = abs(inflated - matrix).max() <= 1e-5
            matrix = inflated
            if settled:
                break
            if not sp.issparse(matrix) and len(matrix) > 100 and np.count_nonzero(matrix) < SPARSE_BELOW * matrix.size:
                matrix = sp.csr_matrix(matrix)
        attractors = np.asarray(matrix.argmax(axis=0)).ravel()  # each column joins the row holding most of its flow
        found.append(np.unique(attractors, return_inverse=True)[1])
    return found


def _inflated(expanded, inflation: float):
    """One MCL inflation of an expanded flow matrix (dense or sparse): powered, pruned, columns summing to 1."""
    if sp.issparse(expanded):
        expanded = expanded.power(inflation)
        expanded.data[expanded.data < MCL_PRUNE * np.asarray(expanded.sum(axis=0)).ravel()[expanded.indices]] = 0
        expanded.eliminate_zeros()
        return sp.csr_matrix(expanded @ sp.diags(1.0 / np.asarray(expanded.sum(axis=0)).ravel()))
    np.power(expanded, inflation, out=expanded)
    expanded /= expanded.sum(axis=0, keepdims=True)
    expanded[expanded < MCL_PRUNE] = 0
    return expanded / expanded.sum(axis=0, keepdims=True)


def silhouette(distances: np.ndarray, groups: np.ndarray) -> float:
    """Mean silhouette of a grouping over a dense distance matrix (one group, or every member alone: 0;
    a member alone in its group counts 0), scikit-learn's, vectorized over the members."""
    from sklearn.metrics import silhouette_score  # here: a second to import, only when refining

    if not 2 <= len(np.unique(groups)) < len(groups):
        return 0.0
    return float(silhouette_score(distances, groups, metric="precomputed"))


def refine(
    members: np.ndarray, edges: sp.csr_matrix, near: sp.csr_matrix, threshold: float = LINK_DISTANCE
) -> np.ndarray:
    """Groups within one single-linkage component (`members`, barcode positions): MCL's best-separated
    split when its mean silhouette reaches `SPLIT_SILHOUETTE`, else one group. `near`: every distance the
    graph holds within the component (also those beyond the link), for the silhouette."""
    if not MIN_REFINED <= len(members) <= MAX_REFINED:
        return np.zeros(len(members), dtype=np.int64)
    linked_here = _within(edges, members)
    similarity = np.where(linked_here > 0, 1.0 - linked_here, 0.0)
    held = _within(near, members)
    distances = np.where(held > 0, held, threshold * 2)  # pairs the graph holds no distance for: far
    np.fill_diagonal(distances, 0.0)
    best, best_score = np.zeros(len(members), dtype=np.int64), SPLIT_SILHOUETTE
    for groups in mcl(similarity, INFLATIONS):
        if len(np.unique(groups)) < 2:
            continue
        score = silhouette(distances, groups)
        if score >= best_score:
            best, best_score = groups, score
    return best


def _within(matrix: sp.csr_matrix, members: np.ndarray) -> np.ndarray:
    """The dense block of `matrix` among `members`, a set no entry of their rows leaves (a component):
    their rows, columns renumbered, in time proportional to their entries (scipy's column indexing walks
    every column of the matrix: millions at BIOSCAN-5M's size, for each of its components)."""
    block = matrix[members]
    sorter = np.argsort(members)
    columns = sorter[np.searchsorted(members, block.indices, sorter=sorter)]
    return sp.csr_matrix((block.data, columns, block.indptr), shape=(len(members), len(members))).toarray()


def clusters_of(
    rows: np.ndarray,
    cols: np.ndarray,
    distances: np.ndarray,
    size: int,
    threshold: float = LINK_DISTANCE,
    refined: bool = True,
    num_proc: int = 1,
) -> np.ndarray:
    """A cluster number per barcode (0…, a component's groups numbered together, components in order),
    from the graph's pairs (`rows`, `cols`: barcode positions, their alignment `distances`): single linkage
    at `threshold`, then each component of `MIN_REFINED`–`MAX_REFINED` barcodes refined (in `num_proc`
    processes)."""
    edges = linked(rows, cols, distances, size, threshold)
    components = single_linkage(edges)
    if not refined:
        return components
    sizes = np.bincount(components)
    refinable = (sizes >= MIN_REFINED) & (sizes <= MAX_REFINED)
    inside = (components[rows] == components[cols]) & refinable[components[rows]]  # what a silhouette reads
    near = linked(rows[inside], cols[inside], distances[inside], size, threshold=1.0)
    order = np.argsort(components, kind="stable")
    bounds = np.searchsorted(components[order], np.arange(len(sizes) + 1))
    groups = np.zeros(size, dtype=np.int64)
    count = np.ones(len(sizes), dtype=np.int64)
    chosen = np.flatnonzero(refinable)
    members = [order[bounds[c] : bounds[c + 1]] for c in chosen]
    for c, each, found in zip(chosen, members, refined_components(members, edges, near, threshold, num_proc)):
        groups[each] = found
        count[c] = found.max() + 1
    return (np.cumsum(count) - count)[components] + groups


def refined_components(
    members: Sequence[np.ndarray], edges: sp.csr_matrix, near: sp.csr_matrix, threshold: float, num_proc: int = 1
) -> list[np.ndarray]:
    """`refine` of each component (`members`), in order; with `num_proc`, in as many forked processes, the
    largest components handed out first (MCL on 1,000 barcodes takes ~1,000 times one on 20), each process's
    linear algebra on one thread."""
    global _REFINING
    if num_proc <= 1 or len(members) < 2 * num_proc:
        return [refine(each, edges, near, threshold) for each in members]
    import sklearn.metrics  # noqa: F401  (imported here once, not in each process: a second)

    largest_first = sorted(range(len(members)), key=lambda n: -len(members[n]))
    _REFINING = (edges, near, threshold)
    try:
        with multiprocessing.get_context("fork").Pool(num_proc, initializer=_one_thread) as pool:
            found = pool.map(_refined, [members[n] for n in largest_first], chunksize=1)
    finally:
        _REFINING = None
    ordered: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(members)
    for n, groups in zip(largest_first, found):
        ordered[n] = groups
    return ordered


def _one_thread() -> None:
    """A refining worker process's BLAS on one thread (two processes on two cores)."""
    global _LIMITS
    from threadpoolctl import threadpool_limits

    _LIMITS = threadpool_limits(1)


def _refined(members: np.ndarray) -> np.ndarray:
    """`refine` of one component in a worker process (`_REFINING`: what it reads)."""
    edges, near, threshold = _REFINING
    return refine(members, edges, near, threshold)
