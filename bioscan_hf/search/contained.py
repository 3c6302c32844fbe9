"""Barcodes that another barcode of the same library contains exactly: a shorter read of the same sequence.

A barcode read short (a failed end, a trimmed primer) is a substring of the full read of the same specimen or
of one identical to it over that stretch. It holds no base its container lacks and lies at distance 0 from
it, so a clustering can put it with its container unsearched. On the real BOLD file 9,961 of 21,708 distinct barcodes
(46%) are contained in another, so a neighbour graph that searches only the others (`graph.graph_built(...,
skip_contained=True)`, what `cluster` links) takes about half the time, as VSEARCH's `--derep_prefix` and
CD-HIT's containment merge fold them before clustering (BENCHMARKS.md).
"""

from __future__ import annotations

import numpy as np

from bioscan_hf.search.bound import EncodedBarcodes
from bioscan_hf.search.seeds import SEED_WINDOW, SeedIndex, seed_batches


def containers(barcodes: list[str], index: SeedIndex, encoded: EncodedBarcodes) -> np.ndarray:
    """For each barcode, the first (lowest position) of `barcodes` that contains it exactly, −1 where none
    does; bases compared with `N` padding stripped, as the aligner reads them. A container is longer, or
    as long with a lower position (the same bases, padded otherwise), so no barcode is its own container's
    container. `index`: the barcodes' seed index; `encoded`: their bytes."""
    from bioscan_hf.search import _seed_kernels  # here: numba takes a fraction of a second to import

    found = np.full(len(barcodes), -1, dtype=np.int64)
    for start, lengths, bases in seed_batches(barcodes):
        into = found[start : start + len(lengths)]
        _seed_kernels.containers(
            bases, lengths, *SEED_WINDOW, index.indptr, index.postings, index.order, *encoded, start, into
        )
    return found


def outermost(container: np.ndarray) -> np.ndarray:
    """Each barcode's outermost container, following `containers`' links to a barcode no other contains
    (itself where none does)."""
    top = np.where(container < 0, np.arange(len(container)), container)
    while True:
        up = top[top]
        if np.array_equal(up, top):
            return top
        top = up
