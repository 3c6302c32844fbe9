"""From a query barcode to its aligned hits, in the engine's worker processes: the seed shortlist on the
strand the query reads on, exact alignment, the references ranked after the shortlist for a query far from
everything, and hits of other labels beside the best (`engine.Identifier` runs these over its plate)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from bioscan_hf.core.barcodes import barcode_length, reverse_complement
from bioscan_hf.search.align import (
    EDIT_PENALTY,
    EXACT_FIRST,
    NEAR_BEST,
    NO_HITS,
    AlignedHits,
    Alignment,
    BandedAligner,
    align,
    allowed_edits,
    band_words,
    oriented,
    position_aligner,
)
from bioscan_hf.search.bound import EncodedBarcodes, beyond, encode_query
from bioscan_hf.search.seeds import SeedIndex, SharedSeeds, seeds_lost

#: Ranks at which a query's best hit is always seen beside hits of another label: a shortlist of one
#: order's (or family's) barcodes says nothing about how far the query is from the rest, which is what tells
#: a new genus of a known order from a query whose order the library lacks (the evidence's `gap`).
CONTRAST_RANKS = ("species", "genus", "subfamily", "family", "order")
#: Hits of another label added per such rank: the best `CONTRAST_HITS` of the first `CONTRAST_POOL` such
#: references in shared-seed order (seed counts misrank by a few points of identity: the issue's flood) ...
CONTRAST_HITS = 2
CONTRAST_POOL = 16
#: ... among this many references sharing the most seeds (ranked only in a library labelled at some
#: `CONTRAST_RANKS`, or when a query is widened: the top 2,000 of an unlabelled library's neighbour graph took
#: ~10% of a barcode's search to rank, and none of them was read).
CONTRAST_DEPTH = 2_000

#: A query whose best hit among its shortlist is below this identity (a genus or family the library lacks)
#: has the references ranked after its shortlist aligned too, up to `WIDE_CANDIDATES` in shared-seed order,
#: each only as far as it could come near the best: far from its relatives, a query shares few seeds with
#: any reference, and counts misrank most (bench/bench_shortlist.py, genera held out).
WIDEN_BELOW = 0.94
WIDE_CANDIDATES = 1_600
#: ... of which at most this many per species (in seed order; unlabelled references each their own): a
#: heavily sampled species fills hundreds of ranks with near-identical barcodes that score alike.
WIDE_PER_SPECIES = 8

_WORKER_BARCODES: list[str] = []
_WORKER_SEEDS: SeedIndex | None = None
_WORKER_CODES: dict[str, np.ndarray] = {}
_WORKER_LABELLED = False  # some reference carries a label at some rank of `_WORKER_CODES`
_WORKER_ENCODED: EncodedBarcodes | None = None


class PackedHits(NamedTuple):
    """Many queries' aligned hits as flat arrays, query after query (query n's at `starts[n]:starts[n + 1]`):
    what a worker process returns. Lists of `Alignment` tuples took ~5% of a worker's time to pickle, and the
    main process as long again to read back."""

    starts: np.ndarray
    keys: np.ndarray
    scores: np.ndarray
    identities: np.ndarray
    overlaps: np.ndarray
    minus: np.ndarray

    @classmethod
    def of(cls, found: list[AlignedHits]) -> PackedHits:
        """`found` (per query, its hits) packed."""
        starts = np.zeros(len(found) + 1, dtype=np.int64)
        np.cumsum([len(hits.keys) for hits in found], out=starts[1:])
        return cls(starts, *AlignedHits.joined([NO_HITS, *found]))

    @classmethod
    def joined(cls, parts: list[PackedHits]) -> PackedHits:
        """Parts (of consecutive queries) as one."""
        if not parts:
            return cls.of([])
        ends = np.cumsum([part.starts[-1] for part in parts])
        starts = [parts[0].starts[:1], *(part.starts[1:] + end - part.starts[-1] for part, end in zip(parts, ends))]
        return cls(np.concatenate(starts), *(np.concatenate(column) for column in list(zip(*parts))[1:]))

    def lists(self) -> list[list[tuple[int, Alignment]]]:
        """Per query, its hits as (position, alignment), as they were packed."""
        flat = AlignedHits(*self[1:]).hits()
        return [flat[a:b] for a, b in zip(self.starts[:-1].tolist(), self.starts[1:].tolist())]


def ranked_alignments(
    query: str,
    references: Sequence[str],
    positions: np.ndarray,
    strand: str = "+",
    exact_first: int = EXACT_FIRST,
    best: int | None = None,
    shared: SharedSeeds | None = None,
    encoded: EncodedBarcodes | None = None,
) -> AlignedHits:
    """Align `query` on `strand` ("+", "-", or "both": the better per reference) with `references[p]` for each
    p in `positions` (most promising first); hits best first (score, then identity, then position).

    The first `exact_first` are aligned in full; each later one only as far as it could come within
    `NEAR_BEST` of the best score so far (`best`: one found before, when these continue a list); a reference
    that cannot is no hit: it could neither be the top hit nor vote beside it. Two exact rules skip such a
    reference unaligned (the same hits, fewer alignments): with `shared` (the seeds each position shares with
    the query on `strand`), one that holds too few of them to come that close (`SharedSeeds.may_be_within`);
    with `encoded` (`references` as `bound.encode_barcodes` writes them), one that the pieces' bound proves
    farther (`bound.beyond`). Both run once over the rest of the list when the first floor is known (a floor
    only rises, so what is beyond the first is beyond every later one), the lemma again at the risen floor."""
    aligner = position_aligner(query, references, strand, encoded)
    positions = np.asarray(positions, dtype=np.int64)
    full = positions[: max(exact_first, best is None)]  # at least one, for a best score to start from
    hits = _full_alignments(aligner, full)
    if len(hits.scores):
        top = int(hits.scores.max())
        best = top if best is None else max(best, top)
    n = len(full)
    if n < len(positions):
        rest = positions[n:]
        near = _may_come_near(query, references, rest, n, best - NEAR_BEST, strand, shared, encoded)
        hits = AlignedHits.joined([hits, _bounded_hits(aligner, query, references, rest, near, n, best, shared)])
    return hits.best_first()


def _full_alignments(aligner: Callable, positions: np.ndarray) -> AlignedHits:
    """Each of `positions` aligned in full, in order."""
    if isinstance(aligner, BandedAligner):
        return aligner.aligned(positions, aligner.in_full(positions))
    return AlignedHits.of([(p, aligner(p, None)) for p in positions.tolist()])


def _bounded_hits(
    aligner: Callable,
    query: str,
    references: Sequence[str],
    rest: np.ndarray,
    near: np.ndarray,
    first: int,
    best: int,
    shared: SharedSeeds | None,
) -> AlignedHits:
    """The hits among `rest[near]` (the `first`-th shortlisted reference onwards): each aligned only as far as
    it could come within `NEAR_BEST` of the best score so far, `best` rising as hits come."""
    if isinstance(aligner, BandedAligner):
        distances = aligner.within(rest, near, first, best, shared)
        found = distances >= 0
        return aligner.aligned(rest[near[found]], distances[found])
    length = len(query.strip("N"))
    hits = []
    for i in near:
        floor = best - NEAR_BEST  # risen since the first floor where a hit came above it
        if shared is not None:
            other = len(references[rest[i]].strip("N"))
            if not shared.may_be_within(first + i, allowed_edits(min(length, other), floor), length - other):
                continue
        found = aligner(rest[i], floor)
        if found is not None:
            hits.append((int(rest[i]), found))
            best = max(best, found.score)
    return AlignedHits.of(hits)


def _may_come_near(
    query: str,
    references: Sequence[str],
    positions: np.ndarray,
    first: int,
    floor: int,
    strand: str,
    shared: SharedSeeds | None,
    encoded: EncodedBarcodes | None,
) -> np.ndarray:
    """Indices of `positions` (the `first`-th of the list onwards) that the exact rules cannot show to score
    under `floor` against `query`: the shared seeds' lemma, then the pieces' bound on the rest, on one strand
    those whose band is wider than one word (a neighbour graph's barcode, 7 edits from its own best: most of
    its references; the band then answers them at the cost of the bound)."""
    if encoded is not None:
        lengths = encoded.ends[positions] - encoded.starts[positions]
    else:
        lengths = np.array([len(references[p].strip("N")) for p in positions], dtype=np.int64)
    length = len(query.strip("N"))
    edits = allowed_edits(np.minimum(length, lengths), floor)
    near = edits >= 0
    if shared is not None:
        near &= shared.may_be_within(np.arange(first, first + len(positions)), edits, length - lengths)
    if encoded is not None:  # one strand's band of one word aligns for no more than the bound costs
        banded = strand != "both"  # (`position_aligner`: both strands align each reference twice, in full)
        kept = np.flatnonzero(near & ((band_words(np.abs(length - lengths), edits) > 1) | (not banded)))
        near[kept[_beyond_on(query, strand, encoded, positions[kept], edits[kept])]] = False
    return np.flatnonzero(near)


def below_floor(query: str, strand: str, encoded: EncodedBarcodes, positions: np.ndarray, floor: int) -> np.ndarray:
    """Which of `positions` the pieces' bound shows to score under `floor` against `query` on `strand` (on
    neither strand, for "both"): `align(..., min_score=floor)` would give None for each (exact)."""
    lengths = encoded.ends[positions] - encoded.starts[positions]
    edits = allowed_edits(np.minimum(len(query.strip("N")), lengths), floor)
    return _beyond_on(query, strand, encoded, positions, edits)


def _beyond_on(
    query: str, strand: str, encoded: EncodedBarcodes, positions: np.ndarray, edits: np.ndarray
) -> np.ndarray:
    """`bound.beyond` for `query` read on `strand` (on both strands, for "both": beyond on each)."""
    far = np.ones(len(positions), dtype=np.bool_)
    for side in ("+", "-") if strand == "both" else (strand,):
        far &= beyond(encode_query(oriented(query, side)), encoded, positions, edits)
    return far


def align_many(task: tuple[list[tuple[str, np.ndarray]], str]) -> PackedHits:
    pairs, strand = task
    encoded = _WORKER_ENCODED
    return PackedHits.of(
        [ranked_alignments(query, _WORKER_BARCODES, positions, strand, encoded=encoded) for query, positions in pairs]
    )


def seed_hits_many(task: tuple[list[str], int, str, int | None]) -> PackedHits:
    """Shortlist by seeds (`SeedIndex.ranked`, within `budget` posting entries when given), then align: one
    worker's share of the queries. With `strand="both"` each query is shortlisted on both strands and aligned
    on the better one (`_minus_is_better`: a barcode shares hundreds of seeds with its own species on its
    strand, a handful by chance on the other)."""
    sequences, candidates, strand, budget = task
    deep = max(candidates, CONTRAST_DEPTH)
    depth = deep if _WORKER_LABELLED else candidates
    plus = _WORKER_SEEDS.ranked(sequences, depth, budget)
    minus = _minus_ranked(sequences, plus, depth, budget) if strand == "both" else plus
    found = []
    for query, (on_plus, plus_counts), (on_minus, minus_counts) in zip(sequences, plus, minus):
        flip = strand == "both" and _minus_is_better(query, on_plus, plus_counts, on_minus, minus_counts, budget)
        positions, counts, side = (on_minus, minus_counts, "-") if flip else (on_plus, plus_counts, "+")
        most = int(counts[0]) if len(counts) else 0  # no reference shares more: the lemma's bound (ranked_alignments)
        shared = SharedSeeds(counts, most)
        hits = ranked_alignments(
            query, _WORKER_BARCODES, positions[:candidates], side, shared=shared, encoded=_WORKER_ENCODED
        )
        if len(hits.keys) and hits.identities[0] < WIDEN_BELOW:  # far from everything: seed counts rank least well
            if len(positions) == depth < deep:  # ranked no deeper than the shortlist: ranked again, deep
                positions, counts = _WORKER_SEEDS.ranked([oriented(query, side)], deep, budget)[0]
            more = candidates + _few_per_species(positions[candidates : max(candidates, WIDE_CANDIDATES)])
            shared = SharedSeeds(counts[more], most)
            widened = ranked_alignments(
                query, _WORKER_BARCODES, positions[more], side, 0, int(hits.scores[0]), shared, _WORKER_ENCODED
            )
            hits = AlignedHits.joined([hits, widened])
        found.append(AlignedHits.joined([hits, _contrast_hits(query, hits, positions, side)]).best_first())
    return PackedHits.of(found)


def _few_per_species(positions: np.ndarray, cap: int = WIDE_PER_SPECIES) -> np.ndarray:
    """Indices into `positions` (in order) keeping the first `cap` of each species; unlabelled ones all kept."""
    codes = _WORKER_CODES.get("species")
    if codes is None or not len(positions):
        return np.arange(len(positions))
    species = codes[positions]
    order = np.argsort(species, kind="stable")
    sorted_species = species[order]
    starts = np.flatnonzero(np.r_[True, sorted_species[1:] != sorted_species[:-1]])
    seen = np.empty(len(positions), dtype=np.int64)
    seen[order] = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return np.flatnonzero((seen < cap) | (species < 0))


def _minus_ranked(
    sequences: list[str], plus: list[tuple[np.ndarray, np.ndarray]], depth: int, budget: int | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The minus strand's shortlists of `sequences`, read only where that strand could win (`_minus_may_win`);
    elsewhere an empty shortlist (the query stays on plus)."""
    # a query its best plus reference holds whole (a neighbour graph's barcode, itself) cannot be beaten
    unmatched = [n for n, q in enumerate(sequences) if not len(plus[n][0]) or _WORKER_BARCODES[plus[n][0][0]] != q]
    minus = {n: reverse_complement(sequences[n]) for n in unmatched}
    held, seeds = _WORKER_SEEDS.held([minus[n] for n in unmatched])
    needed = [n for n, h, k in zip(unmatched, held, seeds) if _minus_may_win(sequences[n], plus[n], h, k, budget)]
    read = _WORKER_SEEDS.ranked([minus[n] for n in needed], depth, budget)
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    found = [empty] * len(sequences)
    for n, ranked in zip(needed, read):
        found[n] = ranked
    return found


def _minus_may_win(query: str, plus: tuple[np.ndarray, np.ndarray], held: int, seeds: int, budget: int | None) -> bool:
    """Whether the query's reverse complement could be read as better than the query (`_minus_is_better`),
    told before any posting list of it is read: no reference shares more of its `seeds` than the index
    holds (`held`). Compared by counts, the minus strand wins only with more than the plus strand's best
    count. Compared by alignment, only with a reference within fewer edits than the plus strand's best one
    has, which by the q-gram lemma (`seeds_lost`) shares all but a few of its seeds; a query held end to end
    by its best plus reference (every barcode of a neighbour graph) cannot be beaten at all. Exact: the
    strand read is the same as if both were ranked (on the real file the minus strand of almost every query
    is skipped)."""
    positions, counts = plus
    if not len(counts):
        return True
    if not _strands_by_alignment(budget):
        return held > counts[0]
    slack = barcode_length(query) - align(query, _WORKER_BARCODES[positions[0]], "+").score
    edits = (slack - 1) // EDIT_PENALTY  # the most a minus alignment may have and still score higher
    return edits >= 0 and held >= seeds - seeds_lost(edits, slack)


def _strands_by_alignment(budget: int | None) -> bool:
    """Whether strands are compared by aligning their best references: counts read within a budget, or from an
    index on disk, do not compare across strands (`_minus_is_better`)."""
    return budget is not None or _WORKER_SEEDS.mapping is not None


def _minus_is_better(
    query: str, on_plus: np.ndarray, plus_counts: np.ndarray, on_minus: np.ndarray, minus_counts: np.ndarray, budget
) -> bool:
    """Whether the query reads on the minus strand: its reverse complement's best reference shares more seeds
    with it. Counts read within a budget (or from an index on disk) are not comparable across strands (a
    strand whose seeds the library lacks reads every list it has, the other only its rarest), so there the
    two strands' best references are aligned and the better score decides."""
    if not len(minus_counts):
        return False
    if not len(plus_counts):
        return True
    if not _strands_by_alignment(budget):
        return bool(minus_counts[0] > plus_counts[0])
    plus_score = align(query, _WORKER_BARCODES[on_plus[0]], "+").score
    return align(query, _WORKER_BARCODES[on_minus[0]], "-").score > plus_score


def _contrast_hits(query: str, hits: AlignedHits, ranked: np.ndarray, strand: str) -> AlignedHits:
    """For each of `CONTRAST_RANKS` (lowest first) where no hit carries a label other than the first hit's
    (the best of the shortlist), the best-aligned `CONTRAST_HITS` of the first `CONTRAST_POOL` references of
    another label in `ranked` (shared-seed order; the shortlist's own included where its bounded alignment
    left them out)."""
    if not len(hits.keys):
        return NO_HITS
    best, keys = int(hits.keys[0]), hits.keys.tolist()
    held, taken = np.array(keys), set(keys)
    aligner = position_aligner(query, _WORKER_BARCODES, strand, _WORKER_ENCODED)
    extra: list[tuple[int, Alignment]] = []
    for codes in _WORKER_CODES.values():
        label = codes[best]
        if label < 0 or ((codes[held] != label) & (codes[held] >= 0)).any():
            continue
        of = codes[ranked]
        others = ranked[(of != label) & (of >= 0)][: CONTRAST_POOL + len(taken)]  # enough, whatever is taken
        candidates = np.array([key for key in others.tolist() if key not in taken][:CONTRAST_POOL], dtype=np.int64)
        pool: list[tuple[int, Alignment]] = []
        best_scores: list[int] = []  # the best CONTRAST_HITS scores so far, best first
        far = np.zeros(len(candidates), dtype=np.bool_)
        for n, key in enumerate(candidates.tolist()):
            # once CONTRAST_HITS are aligned, a reference that cannot reach the last of the best is not aligned
            # in full (edlib stops early, or the pieces' bound, run once at the first such floor, shows it):
            # the best CONTRAST_HITS are the same
            floor = best_scores[-1] if len(best_scores) >= CONTRAST_HITS else None
            if floor is not None and n == CONTRAST_HITS and _WORKER_ENCODED is not None:
                far[n:] = below_floor(query, strand, _WORKER_ENCODED, candidates[n:], floor)
            if far[n]:
                continue
            found = aligner(key, floor)
            if found is not None:
                pool.append((key, found))
                best_scores = sorted([*best_scores, found.score], reverse=True)[:CONTRAST_HITS]
        pool.sort(key=lambda hit: (-hit[1].score, hit[0]))
        extra += pool[:CONTRAST_HITS]
        if pool:
            keys += [key for key, _ in pool[:CONTRAST_HITS]]
            held, taken = np.array(keys), set(keys)
    return AlignedHits.of(extra)


def set_worker_state(
    barcodes: list[str], seeds: SeedIndex | None, codes: dict[str, np.ndarray], encoded: EncodedBarcodes | None = None
) -> None:
    global _WORKER_BARCODES, _WORKER_SEEDS, _WORKER_CODES, _WORKER_ENCODED, _WORKER_LABELLED
    _WORKER_BARCODES, _WORKER_SEEDS, _WORKER_CODES, _WORKER_ENCODED = barcodes, seeds, codes, encoded
    _WORKER_LABELLED = any(bool((code >= 0).any()) for code in codes.values())
