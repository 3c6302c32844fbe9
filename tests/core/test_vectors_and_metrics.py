"""Vector search and accuracy: one home each (`core/vectors.py`, `core/metrics.py`)."""

from __future__ import annotations

import faiss
import numpy as np

from bioscan_hf.core.metrics import micro_macro_accuracy
from bioscan_hf.core.vectors import exact_index, id_index, ivf_index, nearest_keys, normalize, set_nprobe


def test_exact_and_ivf_search_agree_on_clear_neighbours() -> None:
    rng = np.random.default_rng(0)
    keys = normalize(rng.normal(size=(2_000, 16)))
    queries = normalize(keys[:50] + 0.01 * rng.normal(size=(50, 16)))
    indices, similarities = nearest_keys(keys, queries, k=1)
    assert indices[:, 0].tolist() == list(range(50)) and (similarities > 0.99).all()
    _, exact = exact_index(keys).search(queries, 1)
    ivf = ivf_index(keys)
    set_nprobe(ivf, ivf.nlist)  # every list: exact
    ivf.add(keys)
    _, approximate = ivf.search(queries, 1)
    assert exact[:, 0].tolist() == approximate[:, 0].tolist() == list(range(50))
    assert isinstance(id_index(keys), faiss.IndexIDMap2)
    set_nprobe(exact_index(keys), 5)  # no effect on an exact index, no error


def test_micro_and_macro() -> None:
    assert micro_macro_accuracy(["a", "a", "b", "c"], ["a", "b", "b", "b"]) == (0.5, (1.0 + 1 / 3) / 2)
