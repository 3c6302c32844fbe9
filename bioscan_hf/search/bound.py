"""A lower bound on the edits of an alignment, cheap enough to run before it: most bounded alignments of a
query far from everything (the references beyond its shortlist) cannot reach the floor they are aligned
against, and proving that costs a fifth of aligning them.

The bound (a pigeonhole filter, as read mappers' pre-alignment filters use): cut the shorter sequence into
pieces of `PIECE` bases; aligned end to end inside the longer with D edits, each piece is aligned with a
stretch of the longer, the stretches consecutive, so the pieces' edits add up to D at most. Each piece is
therefore at least as far from the longer as its best alignment anywhere in the window where an alignment
within k edits could put it, and the sum of those bests, over the pieces, is at most D. When the sum passes
k, so does D: the alignment is not needed. Each piece's best is Myers' bit-vector edit distance of a
pattern of at most 64 bases, one machine word per column, over a window a little longer than the piece;
edlib aligns the whole (every column of the longer against every word of the shorter).

The window of piece [s, e) of a shorter sequence of m bases inside a longer one of n: an alignment within
k edits starts at a diagonal of at least 0 and ends at one of at most n − m, and drifts from either by at
most k, so the piece lies within [s − k, e + n − m + k) of the longer; and by less after it, where the
pieces before it spent some of the k: within [s − k, e + n − m + k − t), t their bounds' sum so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import NamedTuple

import numpy as np

#: Bases per piece: one 64-bit word of Myers' bit-vector algorithm.
PIECE = 64


class EncodedBarcodes(NamedTuple):
    """Barcodes as one byte array: barcode p is `codes[starts[p]:ends[p]]`, its `N` padding left out."""

    codes: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


def encode_barcodes(barcodes: Sequence[str]) -> EncodedBarcodes:
    """The barcodes' bases, `N` padding at either end stripped as the aligner strips it."""
    stripped = [barcode.strip("N") for barcode in barcodes]
    lengths = np.fromiter((len(b) for b in stripped), dtype=np.int64, count=len(stripped))
    ends = np.cumsum(lengths)
    codes = np.frombuffer("".join(stripped).encode("ascii"), dtype=np.uint8)
    return EncodedBarcodes(codes, ends - lengths, ends)


def encode_query(sequence: str) -> np.ndarray:
    """One sequence (already read on its strand), `N` padding stripped, as bytes."""
    return np.frombuffer(sequence.strip("N").encode("ascii"), dtype=np.uint8)


def beyond(query: np.ndarray, library: EncodedBarcodes, positions: np.ndarray, edits: np.ndarray) -> np.ndarray:
    """For each reference `positions[i]`, whether aligning `query` with it (the shorter end to end inside the
    longer, as `align.align` does) needs more than `edits[i]` edits: True only where it does (exact), so the
    alignment can be skipped; False where the bound cannot tell."""
    found = np.zeros(len(positions), dtype=np.bool_)
    if len(positions):
        _kernel()(query, library.codes, library.starts, library.ends, positions.astype(np.int64),
                  edits.astype(np.int64), found)  # fmt: skip
    return found


@cache
def _kernel():
    """The bound over a batch of references, compiled by numba at first use (~1 s)."""
    import numba  # here: a fraction of a second to import, only when a search aligns beyond its shortlist

    @numba.njit(nogil=True)
    def pieces_beyond(shorter, longer, edits, peq) -> bool:
        m, n = shorter.shape[0], longer.shape[0]
        one = np.uint64(1)
        total = 0
        for s in range(0, m, PIECE):
            e = min(m, s + PIECE)
            for i in range(s, e):
                peq[shorter[i]] |= one << np.uint64(i - s)
            last = one << np.uint64(e - s - 1)
            vp, vn = ~np.uint64(0), np.uint64(0)
            score = best = e - s
            for j in range(max(0, s - edits), min(n, e + n - m + edits - total)):
                eq = peq[longer[j]]
                xv = eq | vn
                xh = (((eq & vp) + vp) ^ vp) | eq
                hp = vn | ~(xh | vp)
                hn = vp & xh
                if hp & last:
                    score += 1
                elif hn & last:
                    score -= 1
                best = min(best, score)
                hp <<= one  # no carry into the first row: the piece may start anywhere in its window
                hn <<= one
                vp = hn | ~(xv | hp)
                vn = hp & xv
            for i in range(s, e):
                peq[shorter[i]] = np.uint64(0)
            total += best
            if total > edits:
                return True
        return False

    @numba.njit(nogil=True)
    def batch(query, codes, starts, ends, positions, edits, found) -> None:
        peq = np.zeros(256, dtype=np.uint64)
        for i in range(positions.shape[0]):
            if edits[i] < 0:
                found[i] = True
                continue
            reference = codes[starts[positions[i]] : ends[positions[i]]]
            if query.shape[0] <= reference.shape[0]:
                found[i] = pieces_beyond(query, reference, edits[i], peq)
            else:
                found[i] = pieces_beyond(reference, query, edits[i], peq)

    return batch
