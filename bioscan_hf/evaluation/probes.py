"""Linear probe on frozen embeddings (BIOSCAN-5M's closed-world protocol), with scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from bioscan_hf.evaluation.knn import EvaluationError, check_embeddings, micro_macro_accuracy


def linear_probe(
    train: np.ndarray,
    train_labels: Sequence,
    test: np.ndarray,
    test_labels: Sequence,
    missing: object = None,
    max_iter: int = 1000,
) -> dict:
    """Fit a multinomial logistic regression on standardised train embeddings; score test.

    Records whose label is `missing` are left out; test classes never seen in training count as misses.
    """
    train_labels = np.asarray(train_labels, dtype=object)
    test_labels = np.asarray(test_labels, dtype=object)
    check_embeddings("train", train, train_labels)
    check_embeddings("test", test, test_labels)
    keep_train, keep_test = train_labels != missing, test_labels != missing
    if len(set(train_labels[keep_train])) < 2:
        raise EvaluationError("the linear probe needs at least two labelled classes in train")
    if not keep_test.any():
        raise EvaluationError("no labelled test records")
    scaler = StandardScaler().fit(np.asarray(train)[keep_train])
    model = LogisticRegression(max_iter=max_iter)
    model.fit(scaler.transform(np.asarray(train)[keep_train]), train_labels[keep_train].astype(str))
    predicted = model.predict(scaler.transform(np.asarray(test)[keep_test]))
    micro, macro = micro_macro_accuracy(predicted, test_labels[keep_test].astype(str))
    return {"micro": micro, "macro": macro, "n_train": int(keep_train.sum()), "n_test": int(keep_test.sum())}
