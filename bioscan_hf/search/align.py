"""Exact alignment of a query against its shortlisted references (edlib).

edlib (Myers' bit-vector edit distance) is exact and far faster than a Python dynamic programme. The
shorter sequence is aligned end to end inside the longer one (edlib's HW mode, `N` padding stripped), so
a partial read is not penalised for bases it lacks:

- identity = 1 − edit distance / length of the shorter sequence (what thresholds and people read);
- score = length of the shorter − 3 × edit distance, BLAST-like (+1 per matching base, −2 more per edit):
  hits are ranked by score, so a full-length 97% match outranks a 100% match over a 150-nt fragment.
  Ranking by identity alone lost 5 points of genus accuracy on the real file's unseen species.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import edlib
import numpy as np

#: Score lost per edit beyond the base it costs (BLAST's megablast: +1 match, −2 mismatch).
EDIT_PENALTY = 3


class Alignment(NamedTuple):
    """One query–reference alignment."""

    score: int
    identity: float
    overlap: int


def align(query: str, reference: str) -> Alignment:
    """Score, identity and overlap (length of the shorter sequence) of `query` against `reference`."""
    a, b = query.strip("N"), reference.strip("N")
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    if not shorter:
        return Alignment(0, 0.0, 0)
    distance = edlib.align(shorter, longer, mode="HW", task="distance")["editDistance"]
    return Alignment(len(shorter) - EDIT_PENALTY * distance, 1.0 - distance / len(shorter), len(shorter))


def alignment_identity(a: str, b: str) -> float:
    """Identity of the shorter sequence aligned end to end inside the longer one."""
    return align(a, b).identity


def rank_hits(query: str, references: Sequence[str], positions: np.ndarray) -> list[tuple[int, Alignment]]:
    """Align `query` with `references[p]` for each p in `positions`; hits best first (score, then
    identity, then position)."""
    hits = [(int(p), align(query, references[p])) for p in positions]
    hits.sort(key=lambda hit: (-hit[1].score, -hit[1].identity, hit[0]))
    return hits
