"""The evaluate-style metric modules load offline from the repository and agree with the functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bioscan_hf.evaluation

METRICS = Path(bioscan_hf.evaluation.__file__).parent / "metrics"


def test_accuracy_module() -> None:
    evaluate = pytest.importorskip("evaluate")
    metric = evaluate.load(str(METRICS / "bioscan_accuracy"))
    result = metric.compute(predictions=["a"] * 8 + ["a", "b"], references=["a"] * 8 + ["b", "b"])
    assert result == {"micro": pytest.approx(0.9), "macro": pytest.approx(0.75)}


def test_clustering_module() -> None:
    evaluate = pytest.importorskip("evaluate")
    metric = evaluate.load(str(METRICS / "bioscan_clustering_ami"))
    rng = np.random.default_rng(0)
    labels = np.repeat(["x", "y", "z"], 20)
    points = rng.normal(size=(60, 3)) + 10 * (labels[:, None] == np.array(["x", "y", "z"])).astype(float)
    result = metric.compute(predictions=points.tolist(), references=labels.tolist(), reduce=False)
    assert result["ami"] == pytest.approx(1.0)
