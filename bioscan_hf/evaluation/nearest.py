"""The 1-NN probe of the paper (genus of the nearest key barcode; exact FAISS search over distinct barcodes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from bioscan_hf.core.errors import EvaluationError
from bioscan_hf.core.metrics import micro_macro_accuracy
from bioscan_hf.core.vectors import check_embeddings, check_rows, nearest_keys


def first_of_each(ids: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the first occurrence of each distinct id, and for every row the position of its id among
    those (so `values[first][inverse]` expands per-distinct values back to rows)."""
    position: dict = {}
    inverse = np.fromiter((position.setdefault(i, len(position)) for i in ids), dtype=np.int64, count=len(ids))
    first = np.zeros(len(position), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(ids) - 1, -1, -1)  # the smallest row of each id wins
    return first, inverse


def _labelled_representatives(labels: np.ndarray, key_inverse: np.ndarray, n_ids: int, missing: object) -> np.ndarray:
    """Per distinct key id, its first row labelled at a rank (-1 where none is)."""
    rows = np.flatnonzero(labels != missing)[::-1]
    first = np.full(n_ids, -1, dtype=np.int64)
    first[key_inverse[rows]] = rows  # assigned from the last row back: the first labelled row wins
    return first


def nearest_labelled_keys(
    keys: np.ndarray,
    key_labels: Mapping[str, Sequence],
    queries: np.ndarray,
    key_ids: Sequence,
    query_ids: Sequence,
    missing: object = None,
    depth: int = 16,
) -> dict[str, np.ndarray]:
    """For every rank of `key_labels`, the key row nearest to each query among the keys labelled at that
    rank — what a search over those keys alone returns (ties to the first row) — from one search.

    Equal ids must carry equal vectors (e.g. ids = barcodes): each distinct query is searched once among
    the distinct keys (`depth` nearest); per rank the nearest labelled one is taken, and the few queries
    whose `depth` nearest are all unlabelled at a rank are searched again among that rank's keys.
    """
    key_first, key_inverse = first_of_each(key_ids)
    query_first, query_inverse = first_of_each(query_ids)
    found, similarities = nearest_keys(keys[key_first], queries[query_first], min(depth, len(key_first)))
    nearest: dict[str, np.ndarray] = {}
    for rank, labels in key_labels.items():
        representative = _labelled_representatives(
            np.asarray(labels, dtype=object), key_inverse, len(key_first), missing
        )
        if (representative < 0).all():
            raise EvaluationError(f"no key carries a label at {rank}")
        rows = np.where(found >= 0, representative[found], -1)
        usable = rows >= 0
        scores = np.where(usable, similarities, -np.inf)
        best = scores.max(axis=1, keepdims=True)
        tied = usable & (scores == best)  # equal similarity: the first row wins, as in a full search
        choice = np.where(tied, rows, np.iinfo(np.int64).max).min(axis=1)
        unresolved = ~usable.any(axis=1)
        if unresolved.any():
            labelled_ids = np.flatnonzero(representative >= 0)
            again, _ = nearest_keys(keys[key_first[labelled_ids]], queries[query_first[unresolved]], 1)
            choice[unresolved] = representative[labelled_ids[again[:, 0]]]
        nearest[rank] = choice[query_inverse]
    return nearest


def _scores(predicted: np.ndarray, query_labels: np.ndarray, key_labels: np.ndarray, n_keys: int) -> dict:
    micro, macro = micro_macro_accuracy(predicted.astype(str), query_labels.astype(str))
    absent = sorted(set(query_labels) - set(key_labels), key=str)
    return {
        "micro": micro,
        "macro": macro,
        "n_queries": int(len(query_labels)),
        "n_keys": int(len(key_labels)),
        "n_searched_keys": int(n_keys),
        "classes_absent_from_keys": absent,
        "queries_of_absent_classes": int(np.isin(query_labels, absent).sum()),
        "predicted": predicted,
    }


def knn_probe_ranks(
    keys: np.ndarray,
    key_labels: Mapping[str, Sequence],
    queries: np.ndarray,
    query_labels: Mapping[str, Sequence],
    key_ids: Sequence,
    query_ids: Sequence,
    missing: object = None,
) -> dict[str, dict]:
    """`knn_probe` at several ranks from one search over distinct ids (see `nearest_labelled_keys`):
    the same predictions as one full search per rank, at a fraction of the work."""
    keys = check_embeddings("keys", keys, key_ids, "ids")
    queries = check_embeddings("queries", queries, query_ids, "ids")
    for side, vectors, labels_by_rank in (("keys", keys, key_labels), ("queries", queries, query_labels)):
        for rank, labels in labels_by_rank.items():  # the matrices are checked once, above
            check_rows(side, len(vectors), labels, f"labels at {rank}")
    nearest = nearest_labelled_keys(keys, key_labels, queries, key_ids, query_ids, missing)
    results = {}
    for rank, rows in nearest.items():
        labels = np.asarray(key_labels[rank], dtype=object)
        truth = np.asarray(query_labels[rank], dtype=object)
        labelled = truth != missing
        if not labelled.any():
            raise EvaluationError(f"no query carries a label at {rank}")
        results[rank] = _scores(labels[rows[labelled]], truth[labelled], labels[labels != missing], len(set(key_ids)))
    return results


def knn_probe(
    keys: np.ndarray,
    key_labels: Sequence,
    queries: np.ndarray,
    query_labels: Sequence,
    missing: object = None,
    key_ids: Sequence | None = None,
    query_ids: Sequence | None = None,
) -> dict:
    """1-NN probe: each query takes the label of its nearest key; returns micro/macro accuracy.

    Keys or queries whose label equals `missing` (unlabelled at that rank) are left out. Query classes
    with no key at all cannot be predicted: they count as misses and are reported.

    With `key_ids` and `query_ids` (e.g. the barcodes: equal ids have equal embeddings), each distinct
    query is searched once among the distinct keys and expanded back to its records: the predictions of
    the full search (its ties go to the first key), at a fraction of the work.
    """
    key_labels, query_labels = np.asarray(key_labels, dtype=object), np.asarray(query_labels, dtype=object)
    check_embeddings("keys", keys, key_labels)
    check_embeddings("queries", queries, query_labels)
    if not (key_labels != missing).any():
        raise EvaluationError("no key carries the queried rank's label")
    if not (query_labels != missing).any():
        raise EvaluationError("no query carries the queried rank's label")
    if (key_ids is None) != (query_ids is None):
        raise EvaluationError("give both key_ids and query_ids (one search per distinct id), or neither")
    if key_ids is not None:
        return knn_probe_ranks(
            keys, {"rank": key_labels}, queries, {"rank": query_labels}, key_ids, query_ids, missing
        )["rank"]
    keep_keys, keep_queries = key_labels != missing, query_labels != missing
    indices, _ = nearest_keys(np.asarray(keys)[keep_keys], np.asarray(queries)[keep_queries], 1)
    predicted = key_labels[keep_keys][indices[:, 0]]
    return _scores(predicted, query_labels[keep_queries], key_labels[keep_keys], int(keep_keys.sum()))
