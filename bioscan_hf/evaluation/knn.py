"""Nearest-neighbour probes with FAISS (exact inner product on L2-normalised vectors = cosine)."""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np


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


def normalize(vectors: np.ndarray) -> np.ndarray:
    """L2-normalised float32 copy (rows of zeros stay zero)."""
    vectors = np.array(vectors, dtype=np.float32, copy=True)
    faiss.normalize_L2(vectors)
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


def knn_probe(
    keys: np.ndarray, key_labels: Sequence, queries: np.ndarray, query_labels: Sequence, missing: object = None
) -> dict:
    """1-NN probe: each query takes the label of its nearest key; returns micro/macro accuracy.

    Keys or queries whose label equals `missing` (unlabelled at that rank) are left out. Query classes
    with no key at all cannot be predicted: they count as misses and are reported.
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
    indices, _ = nearest_keys(keys, queries, 1)
    predicted = key_labels[indices[:, 0]]
    micro, macro = micro_macro_accuracy(predicted.astype(str), query_labels.astype(str))
    absent = sorted(set(query_labels) - set(key_labels), key=str)
    return {
        "micro": micro,
        "macro": macro,
        "n_queries": int(len(query_labels)),
        "n_keys": int(len(key_labels)),
        "classes_absent_from_keys": absent,
        "queries_of_absent_classes": int(np.isin(query_labels, absent).sum()),
    }
