"""Adjusted mutual information at BIOSCAN-5M's size.

scikit-learn's `adjusted_mutual_info_score` sums the expected mutual information over every pair of a BIN
and a cluster: at the full release's ~10⁶ clusters and ~10⁵ BINs, 10¹¹ pairs (days). Each pair's term
depends only on the two sizes, and a partition holds few distinct sizes (hundreds), so here the same sum
runs over pairs of distinct sizes, each weighted by how many BINs and clusters have them: the same value
(tests compare it with scikit-learn's), in seconds.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np


def adjusted_mutual_info(truth: np.ndarray, found: np.ndarray) -> float:
    """scikit-learn's `adjusted_mutual_info_score(truth, found)` (arithmetic normaliser, its limit cases)."""
    from sklearn.metrics import mutual_info_score

    _, true_sizes = np.unique(truth, return_counts=True)
    _, found_sizes = np.unique(found, return_counts=True)
    if len(true_sizes) == len(found_sizes) <= 1:
        return 1.0
    if len(true_sizes) == 1 or len(found_sizes) == 1:
        return 0.0
    mi = mutual_info_score(truth, found)
    emi = expected_mutual_information(true_sizes, found_sizes)
    normalizer = (_entropy(true_sizes) + _entropy(found_sizes)) / 2
    eps = np.finfo(np.float64).eps
    denominator = min(normalizer - emi, -eps) if normalizer - emi < 0 else max(normalizer - emi, eps)
    numerator = min(mi - emi, -eps) if mi - emi < 0 else max(mi - emi, eps)
    return float(numerator / denominator)


def expected_mutual_information(sizes_a: np.ndarray, sizes_b: np.ndarray) -> float:
    """The mutual information two random partitions with these group sizes share on average (Vinh et al.
    2010), summed over distinct sizes."""
    a, weight_a = np.unique(np.asarray(sizes_a, dtype=np.int64), return_counts=True)
    b, weight_b = np.unique(np.asarray(sizes_b, dtype=np.int64), return_counts=True)
    return float(_emi()(a, weight_a.astype(np.float64), b, weight_b.astype(np.float64), int(a @ weight_a)))


def _entropy(sizes: np.ndarray) -> float:
    """The entropy (natural log) of a partition with these group sizes."""
    p = sizes / sizes.sum()
    return float(-(p * np.log(p)).sum())


@cache
def _emi():
    """`emi(a, weight_a, b, weight_b, n)`: scikit-learn's expected-mutual-information loop over pairs of
    distinct sizes, each term weighted by how many groups have the two sizes; compiled by numba at first use."""
    import numba  # here: a fraction of a second to import, only when agreement is measured

    @numba.njit
    def emi(a: np.ndarray, weight_a: np.ndarray, b: np.ndarray, weight_b: np.ndarray, n: int) -> float:
        total = 0.0
        log_n, gln_n = math.log(n), math.lgamma(n + 1)
        for i in range(len(a)):
            for j in range(len(b)):
                ai, bj = a[i], b[j]
                fixed = math.lgamma(ai + 1) + math.lgamma(bj + 1) + math.lgamma(n - ai + 1) + math.lgamma(n - bj + 1)
                term = 0.0
                for nij in range(max(1, ai - n + bj), min(ai, bj) + 1):
                    gln = fixed - gln_n - math.lgamma(nij + 1) - math.lgamma(ai - nij + 1) - math.lgamma(bj - nij + 1)
                    gln -= math.lgamma(n - ai - bj + nij + 1)
                    term += nij / n * (log_n + math.log(nij) - math.log(ai) - math.log(bj)) * math.exp(gln)
                total += weight_a[i] * weight_b[j] * term
        return total

    return emi
