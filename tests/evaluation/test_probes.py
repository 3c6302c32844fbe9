"""The linear probe: the L-BFGS solver reaches scikit-learn's logistic regression (same objective), the
paper's SGD recipe learns through `Trainer`, and memory does not grow with rows × classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bioscan_hf.evaluation.probes import fit_lbfgs, linear_probe, standardise


def _blobs(n: int, classes: int, dim: int, seed: int = 0, spread: float = 2.5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * spread / np.sqrt(dim)
    labels = rng.integers(0, classes, n)
    points = centres[labels] + rng.normal(size=(n, dim)) / np.sqrt(dim) * 1.5
    return points.astype(np.float32), np.array([f"sp{c}" for c in labels], dtype=object)


def test_lbfgs_reaches_scikit_learns_solution() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    points, labels = _blobs(1200, 12, 16)
    train, test = slice(0, 900), slice(900, None)
    scaler = StandardScaler().fit(points[train])
    reference = LogisticRegression(C=1.0, max_iter=5000, tol=1e-10).fit(scaler.transform(points[train]), labels[train])
    expected = reference.predict(scaler.transform(points[test]))
    ours = linear_probe(points[train], labels[train], points[test], labels[test], chunk=128)  # many chunks
    assert ours["micro"] == pytest.approx(np.mean(expected == labels[test]), abs=1 / 300)
    # the same objective: the fitted weights agree with scikit-learn's (up to a per-feature shift of all classes)
    x, _ = standardise(torch.as_tensor(points[train]), torch.as_tensor(points[test]))
    classes, targets = np.unique(labels[train].astype(str), return_inverse=True)
    layer = fit_lbfgs(
        x, torch.as_tensor(targets), len(classes), chunk=100, max_iter=500, tolerance=1e-9
    )  # to the optimum
    weights = layer.weight.detach().numpy()
    np.testing.assert_allclose(
        weights - weights.mean(0), reference.coef_ - reference.coef_.mean(0), rtol=0.02, atol=0.02
    )


def test_paper_sgd_recipe_learns_through_trainer() -> None:
    points, labels = _blobs(800, 5, 8, seed=1, spread=6.0)
    result = linear_probe(points[:600], labels[:600], points[600:], labels[600:], method="sgd", epochs=40)
    assert result["micro"] > 0.9 and result["n_train"] == 600


def test_unknown_method_and_unseen_test_classes() -> None:
    points, labels = _blobs(100, 3, 4)
    with pytest.raises(ValueError, match="unknown probe method 'adam'"):
        linear_probe(points, labels, points, labels, method="adam")
    test_labels = labels.copy()
    test_labels[:10] = "never-in-train"
    result = linear_probe(points, labels, points, test_labels)
    assert result["micro"] <= 0.9 + 1e-9  # the 10 unseen-class records count as misses


MEMORY_PROBE = """
import resource, numpy as np, torch
from bioscan_hf.evaluation.probes import fit_lbfgs
rng = np.random.default_rng(0)
x = torch.as_tensor(rng.normal(size=(50_000, 8)).astype(np.float32))
y = torch.as_tensor(rng.integers(0, 4_000, 50_000))
fit_lbfgs(x[:100], y[:100], 4_000, max_iter=1)  # warm-up: torch's own first-use buffers are not the fit's
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
fit_lbfgs(x, y, 4_000, max_iter=2)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def test_memory_stays_bounded_by_chunks_of_logits() -> None:
    """At 50,000 rows × 4,000 classes one float copy of all logits is 800 MB (and a solver holding logits,
    probabilities and their gradient needs several); chunked, the fit adds a few chunks of 4,096 × 4,000
    floats (~66 MB each; ~200 MB measured)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE], capture_output=True, text=True, check=True)
    assert int(result.stdout.strip().splitlines()[-1]) < 400e6
