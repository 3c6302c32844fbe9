"""The adjusted mutual information summed over distinct sizes equals scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_mutual_info_score

from bioscan_hf.clusters.agreement import adjusted_mutual_info


@pytest.mark.parametrize(
    ("records", "bins", "clusters"), [(50, 3, 5), (1_000, 40, 70), (20_000, 2_000, 5_000), (12, 12, 12), (30, 1, 4)]
)
def test_adjusted_mutual_info_equals_scikit_learns(records: int, bins: int, clusters: int) -> None:
    rng = np.random.default_rng(records)
    truth = rng.integers(0, bins, records)
    found = np.where(rng.random(records) < 0.2, rng.integers(0, clusters, records), truth * 7 % clusters)
    assert adjusted_mutual_info(truth, found) == pytest.approx(adjusted_mutual_info_score(truth, found), abs=1e-9)


def test_limit_cases_are_scikit_learns() -> None:
    same, split = np.zeros(6, dtype=int), np.arange(6)
    assert adjusted_mutual_info(same, same) == adjusted_mutual_info_score(same, same) == 1.0
    assert adjusted_mutual_info(same, split) == adjusted_mutual_info_score(same, split) == 0.0
    assert adjusted_mutual_info(split, split) == pytest.approx(adjusted_mutual_info_score(split, split))
