"""Accuracy as the paper reports it: micro (share of queries right) and macro (mean over true classes)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bioscan_hf.core.errors import EvaluationError


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
