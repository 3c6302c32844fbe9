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
most k, so the piece lies within [s − k, e + n − m + k) of the longer; and by less where pieces before it
or after it have spent some of the k: within [s − k + a, e + n − m + k − b), a and b the bounds' sums of
the pieces after and before it done so far. Pieces are done in pairs from both ends inwards, so both sides
narrow.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        from bioscan_hf.search import _kernels  # here: numba takes a fraction of a second to import

        codes, starts, ends = library
        _kernels.beyond_batch(
            query, codes, starts, ends, positions.astype(np.int64), edits.astype(np.int64), PIECE, found
        )
    return found
