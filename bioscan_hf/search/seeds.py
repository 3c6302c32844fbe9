"""The shortlist before alignment: a codon-aware spaced-seed index over distinct reference barcodes.

COI is protein coding, and most differences between related species fall on third codon positions. A
spaced seed that reads two bases and skips one (`SEED_PATTERN`, as discontiguous MegaBLAST's coding
templates do) survives those changes where a contiguous k-mer does not. Every distinct reference barcode
is reduced to its set of seeds; a query's candidates are the references sharing the most seeds with it.
On the real BOLD file (keys `train`, queries `test_unseen`, 88–90% identity to the nearest other species)
the top 50 by shared seeds hold the alignment-best reference as often as aligning every reference does;
a 10-mer set needed 100+ and a 6-mer profile 200+ (BENCHMARKS.md).

Storage: an inverted index (scipy CSR, one row per seed, one column per distinct barcode, uint16
counts), ~600 entries of 6 bytes per 658-nt barcode: ~3.6 GB at 1M distinct barcodes, ~8.4 GB for
BIOSCAN-5M's ~2.3M. Seed sampling (minimizers, mod-sampling) would shrink it but cost accuracy at the
genus level on the real file (1 in 4 seeds: −1.3 points), so every seed is kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from bioscan_hf.core.barcodes import UNKNOWN_CODE, base_codes
from bioscan_hf.core.output import progress_bar

#: Read two, skip one, over 16 bases: 11 informative positions, 4**11 possible seeds.
SEED_PATTERN = "1101101101101101"
_POSITIONS = np.array([i for i, c in enumerate(SEED_PATTERN) if c == "1"])
_WEIGHTS = 4 ** np.arange(len(_POSITIONS) - 1, -1, -1, dtype=np.int64)
N_SEEDS = 4 ** len(_POSITIONS)
#: Entries of a query × reference count block kept in memory at once (bounds the memory of a search).
_BLOCK_ENTRIES = 50_000_000
#: Barcodes seeded together (~13M windows at 658 bases: ~0.3 GB of working arrays).
_SEED_BATCH = 20_000


def seed_codes(barcode: str) -> np.ndarray:
    """The distinct seeds of one barcode (sorted int64 codes); windows holding an `N` give none."""
    bases = base_codes(barcode)
    if len(bases) < len(SEED_PATTERN):
        return np.zeros(0, dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(bases, len(SEED_PATTERN))[:, _POSITIONS]
    windows = windows[(windows < UNKNOWN_CODE).all(axis=1)].astype(np.int64)
    return np.unique(windows @ _WEIGHTS)


def seed_matrix(barcodes: Sequence[str], progress: bool = False) -> sp.csr_matrix:
    """Barcodes × seeds presence matrix (CSR, uint16 ones): each row the `seed_codes` of its barcode,
    computed for `_SEED_BATCH` barcodes at once over their concatenation (windows crossing from one
    barcode into the next are left out)."""
    indptr = np.zeros(len(barcodes) + 1, dtype=np.int64)
    parts: list[np.ndarray] = []
    bar = progress_bar(total=len(barcodes), desc="seeding barcodes", unit="barcode", disable=not progress)
    for start in range(0, len(barcodes), _SEED_BATCH):
        batch = barcodes[start : start + _SEED_BATCH]
        rows, codes = _batch_seeds(batch)
        indptr[start + 1 : start + len(batch) + 1] = np.cumsum(np.bincount(rows, minlength=len(batch)))
        indptr[start + 1 : start + len(batch) + 1] += indptr[start]
        parts.append(codes.astype(np.int32))
        bar.update(len(batch))
    bar.close()
    indices = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    data = np.ones(len(indices), dtype=np.uint16)
    return sp.csr_matrix((data, indices, indptr), shape=(len(barcodes), N_SEEDS))


def _batch_seeds(batch: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(row, seed) of every distinct seed of every barcode of `batch`, sorted by row then seed."""
    lengths = np.fromiter(map(len, batch), dtype=np.int64, count=len(batch))
    bases = base_codes("".join(batch))
    windows = len(bases) - len(SEED_PATTERN) + 1
    if windows <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    valid = np.ones(windows, dtype=bool)
    codes = np.zeros(windows, dtype=np.int64)
    for position, weight in zip(_POSITIONS, _WEIGHTS):
        read = bases[position : position + windows]
        valid &= read < UNKNOWN_CODE
        codes += read.astype(np.int64) * weight
    owner = np.repeat(np.arange(len(batch)), lengths)[:windows]
    ends = np.cumsum(lengths)[owner]
    valid &= np.arange(windows) + len(SEED_PATTERN) <= ends
    keys = np.sort(owner[valid] * N_SEEDS + codes[valid])  # sort and drop repeats (np.unique hashes first: slower)
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys
    return keys // N_SEEDS, keys % N_SEEDS


class SeedIndex:
    """Distinct reference barcodes, searchable by shared spaced seeds."""

    def __init__(self, barcodes: Sequence[str], progress: bool = False) -> None:
        self.size = len(barcodes)
        #: seeds × barcodes: each row lists the barcodes holding that seed (the inverted index)
        self.postings = seed_matrix(barcodes, progress).T.tocsr()

    @property
    def nbytes(self) -> int:
        """Memory held by the index."""
        p = self.postings
        return p.data.nbytes + p.indices.nbytes + p.indptr.nbytes

    def shortlist(self, queries: Sequence[str], candidates: int) -> list[np.ndarray]:
        """For each query, up to `candidates` reference positions, most shared seeds first (ties: lower
        position first); references sharing no seed are never listed."""
        block = max(1, min(len(queries), _BLOCK_ENTRIES // max(self.size, 1)))
        found: list[np.ndarray] = []
        for start in range(0, len(queries), block):
            shared = (seed_matrix(queries[start : start + block]) @ self.postings).tocsr()
            shared.sort_indices()
            for row in range(shared.shape[0]):
                lo, hi = shared.indptr[row], shared.indptr[row + 1]
                counts, positions = shared.data[lo:hi], shared.indices[lo:hi]
                if len(counts) > candidates:  # keep the top counts; at the cut, the lowest positions
                    cut = np.partition(counts, len(counts) - candidates)[len(counts) - candidates]
                    above = np.flatnonzero(counts > cut)
                    at_cut = np.flatnonzero(counts == cut)[: candidates - len(above)]
                    keep = np.concatenate([above, at_cut])
                    counts, positions = counts[keep], positions[keep]
                order = np.lexsort((positions, -counts.astype(np.int64)))
                found.append(positions[order].astype(np.int64))
        return found


def projected_bytes(distinct_barcodes: int, seeds_per_barcode: float = 606.0) -> int:
    """Memory of a `SeedIndex` over this many distinct barcodes (606 seeds per barcode on the BOLD file)."""
    return int(math.ceil(distinct_barcodes * seeds_per_barcode * 6 + (N_SEEDS + 1) * 8))
