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

import math
import re
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


#: BLAST's statistics for megablast's scoring (+1/−2, linear gaps of 2.5 per base: Karlin–Altschul λ, K).
BLAST_LAMBDA, BLAST_K = 1.28, 0.46
_CIGAR = re.compile(r"(\d+)([=XID])")


class HitStats(NamedTuple):
    """An alignment as BLAST's tabular output describes it (1-based inclusive coordinates)."""

    pident: float
    length: int
    mismatch: int
    gapopen: int
    qstart: int
    qend: int
    sstart: int
    send: int
    #: megablast's raw score of the alignment: +1 per match, −2 per mismatch, −2.5 per gap base
    raw_score: float

    def bitscore(self) -> float:
        """The raw score in bits (BLAST's normalised score)."""
        return (BLAST_LAMBDA * self.raw_score - math.log(BLAST_K)) / math.log(2)

    def evalue(self, query_length: int, reference_bases: int) -> float:
        """Expected chance hits with this score in a library of `reference_bases` (no length correction)."""
        return BLAST_K * query_length * reference_bases * math.exp(-BLAST_LAMBDA * self.raw_score)


def describe(query: str, reference: str) -> HitStats:
    """The alignment `align` scores, with BLAST's per-hit columns (`N` padding stripped, positions of the
    unstripped sequences)."""
    q, r = query.strip("N"), reference.strip("N")
    q_lead, r_lead = len(query) - len(query.lstrip("N")), len(reference) - len(reference.lstrip("N"))
    swapped = len(q) > len(r)
    shorter, longer = (r, q) if swapped else (q, r)
    if not shorter:
        return HitStats(0.0, 0, 0, 0, 0, 0, 0, 0, 0.0)
    found = edlib.align(shorter, longer, mode="HW", task="path")
    start, end = found["locations"][0]
    counts = {"=": 0, "X": 0, "I": 0, "D": 0}
    gapopen = 0
    for number, op in _CIGAR.findall(found["cigar"]):
        counts[op] += int(number)
        gapopen += op in "ID"
    length = sum(counts.values())
    spans = ((1, len(shorter)), (start + 1, end + 1))
    (qstart, qend), (sstart, send) = spans[::-1] if swapped else spans
    return HitStats(
        pident=round(100 * counts["="] / length, 2),
        length=length,
        mismatch=counts["X"],
        gapopen=gapopen,
        qstart=qstart + q_lead,
        qend=qend + q_lead,
        sstart=sstart + r_lead,
        send=send + r_lead,
        raw_score=counts["="] - 2 * counts["X"] - 2.5 * (counts["I"] + counts["D"]),
    )
