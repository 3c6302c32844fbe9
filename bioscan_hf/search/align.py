"""Exact alignment of a query against its shortlisted references (edlib).

edlib (Myers' bit-vector edit distance) is exact and far faster than a Python dynamic programme. The
shorter sequence is aligned end to end inside the longer one (edlib's HW mode, `N` padding stripped), so
a partial read is not penalised for bases it lacks:

- identity = 1 − edit distance / length of the shorter sequence (what thresholds and people read);
- score = length of the shorter − 3 × edit distance, BLAST-like (+1 per matching base, −2 more per edit):
  hits are ranked by score, so a full-length 97% match outranks a 100% match over a 150-nt fragment.
  Ranking by identity alone lost 5 points of genus accuracy on the real file's unseen species.

A search's worker processes align one query with hundreds of references (`position_aligner`), most of them
near it: there the rows an alignment within k edits can reach in a column, a band of
len(longer) − len(shorter) + 2k + 1, are computed alone (`_kernels.band_distance`: Myers' bit-vectors
moving down the band, exact within it), in one to `BAND_WORDS` machine words where edlib computes every row
of the shorter (11 words for a barcode) in most columns: ~1.5–3× faster per alignment on the real file's
shortlists. An alignment whose band is wider, or whose distance the band did not hold, goes to edlib. A
shortlist's alignments run in compiled loops (`_kernels.band_in_full`, `band_within`), each returning here
only for one its band cannot answer: a Python call per alignment cost ~5 µs beside a 12 µs alignment.

A query may be read on either strand (`strand="-"`: its reverse complement is aligned), as BLAST and
VSEARCH's `--strand both` do; hits on the minus strand are described as BLAST writes them (`sstart > send`).
Bitscores and e-values are BLAST's, of the best-scoring local stretch of the alignment (never negative).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

import edlib
import numpy as np

from bioscan_hf.core.barcodes import reverse_complement
from bioscan_hf.search.bound import EncodedBarcodes, encode_query
from bioscan_hf.search.seeds import LOST_PER_EDIT, SharedSeeds

#: Score lost per edit beyond the base it costs (BLAST's megablast: +1 match, −2 mismatch).
EDIT_PENALTY = 3
#: Shortlisted references aligned in full per query; later ones are aligned only while they could come
#: within `NEAR_BEST` score points (7 edits) of the best so far.
EXACT_FIRST = 50
NEAR_BEST = 7 * EDIT_PENALTY
#: The widest band (64-row words) aligned by `_kernels.band_distance`: four hold 126 edits between barcodes
#: of one length, where edlib's alignment costs about as much.
BAND_WORDS = 4


class Alignment(NamedTuple):
    """One query–reference alignment."""

    score: int
    identity: float
    overlap: int
    #: the query's strand: "+" as given, "-" its reverse complement
    strand: str = "+"


class AlignedHits(NamedTuple):
    """One query's hits as arrays (`hits` gives them as a list of (position, `Alignment`)): a search's
    worker processes keep them so, as a Python tuple per hit cost a quarter of a neighbour graph's time."""

    keys: np.ndarray
    scores: np.ndarray
    identities: np.ndarray
    overlaps: np.ndarray
    minus: np.ndarray

    @classmethod
    def of(cls, hits: Sequence[tuple[int, Alignment]]) -> AlignedHits:
        """`hits` ((position, alignment) pairs) as arrays, in their order."""
        return cls(
            np.array([key for key, _ in hits], dtype=np.int64),
            np.array([a.score for _, a in hits], dtype=np.int64),
            np.array([a.identity for _, a in hits], dtype=np.float64),
            np.array([a.overlap for _, a in hits], dtype=np.int64),
            np.array([a.strand == "-" for _, a in hits], dtype=np.bool_),
        )

    @classmethod
    def scored(cls, keys: np.ndarray, distances: np.ndarray, overlaps: np.ndarray, strand: str) -> AlignedHits:
        """Alignments of `distances` edits over shorter sides of `overlaps` bases (`_scored`'s, at once)."""
        overlaps = np.asarray(overlaps, dtype=np.int64)
        distances = np.where(overlaps > 0, distances, 0)  # nothing left of one side: no hit's score or identity
        identities = np.where(overlaps > 0, 1.0 - distances / np.maximum(overlaps, 1), 0.0)
        minus = np.full(len(keys), strand == "-", dtype=np.bool_)
        return cls(np.asarray(keys, dtype=np.int64), overlaps - EDIT_PENALTY * distances, identities, overlaps, minus)

    @classmethod
    def joined(cls, parts: Sequence[AlignedHits]) -> AlignedHits:
        """Parts one after the other."""
        return cls(*(np.concatenate(column) for column in zip(*parts)))

    def best_first(self) -> AlignedHits:
        """The hits best first: score, then identity, then position."""
        order = np.lexsort((self.keys, -self.identities, -self.scores))
        return AlignedHits(*(column[order] for column in self))

    def hits(self) -> list[tuple[int, Alignment]]:
        """As (position, alignment) pairs."""
        columns = (self.scores, self.identities, self.overlaps, np.where(self.minus, "-", "+"))
        return list(zip(self.keys.tolist(), map(Alignment, *(c.tolist() for c in columns))))


NO_HITS = AlignedHits.of([])


def oriented(query: str, strand: str) -> str:
    """The query as aligned on `strand` ("+": as given, "-": its reverse complement)."""
    return reverse_complement(query) if strand == "-" else query


def allowed_edits(shorter: int | np.ndarray, min_score: int) -> int | np.ndarray:
    """The most edits an alignment over a shorter sequence of `shorter` bases may have and still score
    `min_score` (negative: none can); `shorter` may be an array (one answer per reference)."""
    return (shorter - min_score) // EDIT_PENALTY


def align(query: str, reference: str, strand: str = "+", min_score: int | None = None) -> Alignment | None:
    """Score, identity and overlap (length of the shorter sequence) of `query`, read on `strand`, against
    `reference`; with `min_score`, None when the score cannot reach it (edlib stops early: ~2× faster)."""
    a, b = oriented(query, strand).strip("N"), reference.strip("N")
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    if min_score is not None and min_score > len(shorter):
        return None  # not even an exact match would reach it
    if not shorter:
        return Alignment(0, 0.0, 0, strand)
    bound = -1 if min_score is None else allowed_edits(len(shorter), min_score)
    return _scored(_edlib_distance(shorter, longer, bound), len(shorter), strand)


def _edlib_distance(a: str, b: str, edits: int) -> int:
    """edlib's distance of the shorter of `a` and `b` aligned end to end inside the other (its HW mode), or −1
    where it is more than `edits` (−1 edits: no limit)."""
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    return edlib.align(shorter, longer, mode="HW", task="distance", k=edits)["editDistance"]


def _scored(distance: int, length: int, strand: str) -> Alignment | None:
    """The alignment of `distance` edits over a shorter sequence of `length` bases (None: −1, beyond its bound)."""
    if distance < 0:
        return None
    return Alignment(length - EDIT_PENALTY * distance, 1.0 - distance / length, length, strand)


def best_strand_alignment(query: str, reference: str, min_score: int | None = None) -> Alignment | None:
    """The better of `query`'s two strands against `reference` (a shortlist that does not tell strands)."""
    found = [a for a in (align(query, reference, s, min_score) for s in "+-") if a is not None]
    return max(found, key=lambda a: (a.score, a.identity)) if found else None


def position_aligner(
    query: str, references: Sequence[str], strand: str, encoded: EncodedBarcodes | None = None
) -> Callable[[int, int | None], Alignment | None]:
    """`align(query, references[p], strand, min_score)` (the better strand for "both") as a function of
    `(p, min_score)`, for many alignments of one query; with the references `encoded` (a search's worker
    processes) and one strand, by the band where it pays (`BandedAligner`): the same alignments."""
    if strand == "both":
        return lambda p, min_score: best_strand_alignment(query, references[p], min_score)
    if encoded is None:
        return lambda p, min_score: align(query, references[p], strand, min_score)
    return BandedAligner(query, references, strand, encoded)


class BandedAligner:
    """`align` of one query on one strand with references by position, the same alignments computed in the
    band (`_kernels.band_distance`) where it holds them: a bounded alignment whose band fits `BAND_WORDS`
    words is answered by the band alone; one in full is tried first in the band wide enough for the previous
    full alignment's distance (references in shortlist order sit at like distances; simulated on the real
    file's shortlists, this came closest to knowing each distance beforehand; the first in one word), then in
    the widest band, and goes to edlib when the distance is beyond that too (each edlib alignment of two
    barcodes ~40–65 µs, the widest band ~25 µs)."""

    def __init__(self, query: str, references: Sequence[str], strand: str, encoded: EncodedBarcodes) -> None:
        from bioscan_hf.search import _kernels  # here: numba takes a fraction of a second to import

        self.text = oriented(query, strand).strip("N")
        self.read = encode_query(self.text)
        self.references, self.strand, self.encoded, self.kernels = references, strand, encoded, _kernels
        # scratch rows for a reference shorter than the query; the query's own rows, marked once for the others
        self.masks = np.zeros((256, len(self.read) // 64 + 2 + BAND_WORDS), dtype=np.uint64)
        self.read_masks = np.zeros_like(self.masks)
        _kernels.mark_rows(self.read, self.read_masks)
        self.last: int | None = None  # the previous full alignment's distance

    def __call__(self, position: int, min_score: int | None) -> Alignment | None:
        codes, starts, ends = self.encoded
        reference = codes[starts[position] : ends[position]]
        shorter, longer = (self.read, reference) if len(self.read) <= len(reference) else (reference, self.read)
        m = len(shorter)
        if min_score is not None and min_score > m:
            return None  # not even an exact match would reach it
        if not m:
            return Alignment(0, 0.0, 0, self.strand)
        if min_score is None:
            return _scored(int(self.in_full(np.array([position], dtype=np.int64))[0]), m, self.strand)
        return _scored(self._within(shorter, longer, allowed_edits(m, min_score), position), m, self.strand)

    def in_full(self, positions: np.ndarray) -> np.ndarray:
        """The edit distance of each of `positions` in full, in order (0 where one side is empty, as `self`
        scores it): as many as the band holds in one compiled call (`_kernels.band_in_full`), the others here
        (a Python call per alignment was ~5 µs of a 12 µs one)."""
        distances = np.zeros(len(positions), dtype=np.int64)
        lengths = self._overlaps(positions)
        last, at = (-1 if self.last is None else self.last), 0
        while at < len(positions):
            at, last = self.kernels.band_in_full(
                self.read, *self.encoded, positions, at, last, BAND_WORDS, self.masks, self.read_masks, distances
            )
            if at < len(positions) and lengths[at]:  # one beyond the widest band: edlib's
                last = distances[at] = self._edlib(int(positions[at]), -1)
            at += 1  # (nothing left of one side: distance 0, no score)
        self.last = None if last < 0 else int(last)
        return distances

    def aligned(self, positions: np.ndarray, distances: np.ndarray) -> AlignedHits:
        """The hits of `positions` at their `distances` (`in_full`'s, or `within`'s that are not −1)."""
        return AlignedHits.scored(positions, distances, self._overlaps(positions), self.strand)

    def within(
        self, positions: np.ndarray, near: np.ndarray, first: int, best: int, shared: SharedSeeds | None
    ) -> np.ndarray:
        """`shortlist.ranked_alignments`' bounded alignments (`shortlist._bounded_hits`) in compiled calls
        (`_kernels.band_within`), those the band cannot answer here: the distance of each of `positions[near]`,
        −1 where it is no hit."""
        near = np.asarray(near, dtype=np.int64)
        counts, most = (shared.counts, shared.most) if shared is not None else (np.zeros(0, dtype=np.int64), 0)
        distances = np.full(len(near), -1, dtype=np.int64)
        at = 0
        while at < len(near):
            at, best = self.kernels.band_within(
                self.read, *self.encoded, positions, near, at, best, NEAR_BEST, EDIT_PENALTY,
                counts, most, first, LOST_PER_EDIT, BAND_WORDS, self.masks, self.read_masks, distances,
            )  # fmt: skip
            if at < len(near):  # one the band cannot answer
                alignment = self(int(positions[near[at]]), best - NEAR_BEST)
                if alignment is not None:
                    distances[at] = (alignment.overlap - alignment.score) // EDIT_PENALTY
                    best = max(best, alignment.score)
                at += 1
        return distances

    def _overlaps(self, positions: np.ndarray) -> np.ndarray:
        """The bases the alignment with each reference of `positions` spans: the shorter side's."""
        _, starts, ends = self.encoded
        return np.minimum(len(self.read), ends[positions] - starts[positions])

    def _within(self, shorter: np.ndarray, longer: np.ndarray, edits: int, position: int) -> int:
        words = band_words(len(longer) - len(shorter), edits)
        if words <= BAND_WORDS:
            return self._band(shorter, longer, edits, words)
        return self._edlib(position, edits)

    def _band(self, shorter: np.ndarray, longer: np.ndarray, edits: int, words: int) -> int:
        marked = shorter is self.read
        masks = self.read_masks if marked else self.masks
        return self.kernels.band_distance(shorter, longer, edits, words, masks, marked)

    def _edlib(self, position: int, edits: int) -> int:
        return _edlib_distance(self.text, self.references[position].strip("N"), edits)


def band_words(longer_by: int, edits: int) -> int:
    """The 64-row words of the band holding every alignment within `edits` of a shorter sequence inside one
    `longer_by` bases longer."""
    return -(-(longer_by + 2 * edits + 1) // 64)


def alignment_identity(a: str, b: str) -> float:
    """Identity of the shorter sequence aligned end to end inside the longer one."""
    return align(a, b).identity


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
    #: megablast's raw score (+1 per match, −2 per mismatch, −2.5 per gap base) of the best-scoring local
    #: stretch of the alignment, as BLAST's local alignment would keep it: 0 when no stretch scores above 0
    raw_score: float
    #: the identities of the alignment's two halves (`half_identities`)
    halves: tuple[float, float] = (0.0, 0.0)

    def bitscore(self) -> float:
        """The raw score in bits (BLAST's normalised score; at least 1.1, the bits of a raw score of 0)."""
        return (BLAST_LAMBDA * self.raw_score - math.log(BLAST_K)) / math.log(2)

    def evalue(self, query_length: int, reference_bases: int) -> float:
        """Expected chance hits with this score in a library of `reference_bases` (no length correction)."""
        return BLAST_K * query_length * reference_bases * math.exp(-BLAST_LAMBDA * self.raw_score)


#: megablast's score of one column of each kind of alignment operation (edlib's extended CIGAR letters).
_COLUMN_SCORE = {"=": 1.0, "X": -2.0, "I": -2.5, "D": -2.5}


def best_local_score(cigar: str) -> float:
    """The highest raw score of any stretch of an alignment (Kadane over the CIGAR's runs: each run has one
    sign, so a best stretch starts and ends with whole runs of matches); 0 when none scores above 0."""
    best = running = 0.0
    for number, op in _CIGAR.findall(cigar):
        running = max(0.0, running + int(number) * _COLUMN_SCORE[op])
        best = max(best, running)
    return best


def half_identities(cigar: str) -> tuple[float, float]:
    """The identity of the first and of the second half of an alignment's columns (gaps included): a
    chimera, two barcodes joined, matches its best hit well along one half only."""
    ops = "".join(op * int(n) for n, op in _CIGAR.findall(cigar))
    middle = len(ops) // 2
    return ops[:middle].count("=") / max(middle, 1), ops[middle:].count("=") / max(len(ops) - middle, 1)


def describe(query: str, reference: str, strand: str = "+") -> HitStats:
    """The alignment `align` scores, with BLAST's per-hit columns (`N` padding stripped, positions of the
    unstripped sequences; a minus-strand hit's subject positions run backwards, `sstart > send`, as BLAST
    writes them)."""
    stats = _describe_plus(oriented(query, strand), reference)
    if strand != "-" or not stats.length:
        return stats
    end = len(query) + 1  # query positions on the given strand; the subject read backwards
    return stats._replace(qstart=end - stats.qend, qend=end - stats.qstart, sstart=stats.send, send=stats.sstart)


def _describe_plus(query: str, reference: str) -> HitStats:
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
        raw_score=best_local_score(found["cigar"]),
        halves=half_identities(found["cigar"]),
    )
