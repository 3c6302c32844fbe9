"""Nearest-neighbour probes with FAISS (exact inner product on L2-normalised vectors = cosine)."""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np

from bioscan_hf.embedding.base import normalize


class EvaluationError(ValueError):
    """Inputs to a probe are unusable (NaN, empty, mismatched lengths, missing labels)."""


def check_embeddings(name: str, vectors: np.ndarray, labels: Sequence | None = None) -> np.ndarray:
    """Validate an embedding matrix (2-D, finite, non-empty, one label per row) and return it as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise EvaluationError(f"{name}: expected a non-empty [N, D] matrix, got shape {vectors.shape}")
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        raise EvaluationError(f"{name}: {bad.sum()} row(s) contain NaN or inf, first at row {np.flatnonzero(bad)[0]}")
    if labels is not None and len(labels) != len(vectors):
        raise EvaluationError(f"{name}: {len(vectors)} embeddings but {len(labels)} labels")
    return vectors


def nearest_keys(keys: np.ndarray, queries: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities [Q, k] of each query's k nearest keys (exact FAISS search)."""
    keys = normalize(check_embeddings("keys", keys))
    queries = normalize(check_embeddings("queries", queries))
    if keys.shape[1] != queries.shape[1]:
        raise EvaluationError(f"keys have {keys.shape[1]} dimensions, queries {queries.shape[1]}")
    index = faiss.IndexFlatIP(keys.shape[1])
    index.add(keys)
    similarities, indices = index.search(queries, k)
    return indices, similarities


def micro_macro_accuracy(predicted: Sequence, true: Sequence) -> tuple[float, float]:
    """Micro accuracy and macro accuracy (mean over true classes of per-class accuracy)."""
    predicted, true = np.asarray(predicted), np.asarray(true)
    return micro_macro(predicted == true, true)


def micro_macro(correct: np.ndarray, true: Sequence) -> tuple[float, float]:
    """Share of `correct` queries, and its mean over the queries' true classes."""
    correct, true = np.asarray(correct, dtype=bool), np.asarray(true)
    if len(true) == 0:
        raise EvaluationError("no queries to score")
    _, inverse = np.unique(true, return_inverse=True)
    per_class = np.bincount(inverse, weights=correct) / np.bincount(inverse)
    return float(correct.mean()), float(per_class.mean())


def first_of_each(ids: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the first occurrence of each distinct id, and for every row the position of its id among
    those (so `values[first][inverse]` expands per-distinct values back to rows)."""
    position: dict = {}
    inverse = np.fromiter((position.setdefault(i, len(position)) for i in ids), dtype=np.int64, count=len(ids))
    first = np.zeros(len(position), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(ids) - 1, -1, -1)  # the smallest row of each id wins
    return first, inverse


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

    With `key_ids` / `query_ids` (e.g. the barcodes: equal ids have equal embeddings), only the first
    key of each id is searched and each distinct query is searched once, then expanded back to its
    records: the predictions of the full search (its ties go to the first key), at a fraction of the work.
    """
    key_labels, query_labels = np.asarray(key_labels, dtype=object), np.asarray(query_labels, dtype=object)
    check_embeddings("keys", keys, key_labels)
    check_embeddings("queries", queries, query_labels)
    keep_keys = key_labels != missing
    keep_queries = query_labels != missing
    if not keep_keys.any():
        raise EvaluationError("no key carries the queried rank's label")
    if not keep_queries.any():
        raise EvaluationError("no query carries the queried rank's label")
    keys, key_labels = np.asarray(keys)[keep_keys], key_labels[keep_keys]
    queries, query_labels = np.asarray(queries)[keep_queries], query_labels[keep_queries]
    key_rows = np.arange(len(keys))
    if key_ids is not None:
        key_rows, _ = first_of_each(np.asarray(key_ids, dtype=object)[keep_keys])
    if query_ids is not None:
        query_rows, expand = first_of_each(np.asarray(query_ids, dtype=object)[keep_queries])
        indices, _ = nearest_keys(keys[key_rows], queries[query_rows], 1)
        nearest = key_rows[indices[:, 0]][expand]
    else:
        indices, _ = nearest_keys(keys[key_rows], queries, 1)
        nearest = key_rows[indices[:, 0]]
    predicted = key_labels[nearest]
    micro, macro = micro_macro_accuracy(predicted.astype(str), query_labels.astype(str))
    absent = sorted(set(query_labels) - set(key_labels), key=str)
    return {
        "micro": micro,
        "macro": macro,
        "n_queries": int(len(query_labels)),
        "n_keys": int(len(key_labels)),
        "n_searched_keys": int(len(key_rows)),
        "classes_absent_from_keys": absent,
        "queries_of_absent_classes": int(np.isin(query_labels, absent).sum()),
        "predicted": predicted,
    }
