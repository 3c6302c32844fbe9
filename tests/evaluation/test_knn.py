"""1-NN probe: known answers, FAISS against brute force, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from bioscan_hf.evaluation.knn import EvaluationError, knn_probe, micro_macro_accuracy, nearest_keys


def test_micro_vs_macro_with_imbalance() -> None:
    true = ["a"] * 8 + ["b"] * 2
    predicted = ["a"] * 8 + ["a", "b"]
    micro, macro = micro_macro_accuracy(predicted, true)
    assert micro == pytest.approx(0.9) and macro == pytest.approx((1.0 + 0.5) / 2)


def test_faiss_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    keys, queries = rng.normal(size=(500, 16)), rng.normal(size=(200, 16))
    indices, similarities = nearest_keys(keys, queries, 3)
    k = keys / np.linalg.norm(keys, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    brute = np.argsort(-(q @ k.T), axis=1)[:, :3]
    assert (indices == brute).all()
    np.testing.assert_allclose(similarities[:, 0], (q @ k.T).max(axis=1), rtol=1e-5)


def test_probe_known_answer_and_absent_classes() -> None:
    keys = np.array([[1, 0], [0, 1], [1, 1]], dtype=float)
    key_labels = ["x", "y", None]  # the unlabelled key is left out
    queries = np.array([[0.9, 0.1], [0.1, 0.9], [0.7, 0.72], [1, 0]])
    query_labels = ["x", "y", "z", "x"]
    result = knn_probe(keys, key_labels, queries, query_labels)
    assert result["micro"] == pytest.approx(3 / 4)
    assert result["macro"] == pytest.approx((1 + 1 + 0) / 3)
    assert result["classes_absent_from_keys"] == ["z"] and result["queries_of_absent_classes"] == 1


def test_bad_inputs() -> None:
    good = np.ones((3, 2))
    with pytest.raises(EvaluationError, match="NaN"):
        knn_probe(np.array([[np.nan, 1.0]]), ["a"], good, ["a", "a", "a"])
    with pytest.raises(EvaluationError, match="3 embeddings but 2 labels"):
        knn_probe(good, ["a", "b"], good, ["a", "a", "a"])
    with pytest.raises(EvaluationError, match="non-empty"):
        knn_probe(good, ["a"] * 3, np.zeros((0, 2)), [])
    with pytest.raises(EvaluationError, match="no key carries"):
        knn_probe(good, [None] * 3, good, ["a"] * 3)
