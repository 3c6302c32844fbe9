"""The identification engine: shortlist, exact alignment, hits in BLAST's terms, and calls per rank.

For a DNA query: the distinct reference barcodes sharing the most spaced seeds with it (`seeds.py`; or
its nearest neighbours under `--model`, any encoder of `bioscan_hf.embedding`) are aligned exactly
(`align.py`). Hits are ranked by alignment score (BLAST-like: +1 per base of the shorter sequence, −3 per
edit, so a full-length 97% match outranks a 100% match over a fragment), equal hits by identity, then by
the records carrying the barcode (a barcode shared by two species: the better supported name first), and
described as BLAST does (`pident`, `length`, `mismatch`, `gapopen`, `qcovs`, bitscore, e-value). Calls per
rank: `calls.py`, with the calibrated probability of `calibration.py`.

For a photo (a CLIBD model, `--model`): the nearest reference barcodes in CLIBD's shared space vote
(no identity: the similarity is reported).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence

import numpy as np

from bioscan_hf.core.barcodes import barcode_length, reverse_complement
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.vectors import exact_index, normalize
from bioscan_hf.data.images import decode_image
from bioscan_hf.data.schema import CALL_RANKS
from bioscan_hf.data.sources import Query
from bioscan_hf.embedding.store import stored_or_embedded
from bioscan_hf.search.align import EDIT_PENALTY, Alignment, HitStats, align, best_first, describe, rank_hits
from bioscan_hf.search.calibration import Calibration, default_calibration
from bioscan_hf.search.calls import VOTE_MARGIN, Hit, call, confidences, photo_call, rank_evidence
from bioscan_hf.search.references import Reference
from bioscan_hf.search.seeds import SEED_PATTERN, SeedIndex, SharedSeeds
from bioscan_hf.search.settings import DEFAULT_CANDIDATES, DEFAULT_MIN_CONFIDENCE, DEFAULT_STRAND

#: Neighbours voting on a photo query's call.
PHOTO_NEIGHBOURS = 10


#: Ranks at which a query's best hit is always seen beside hits of another label: a shortlist of one
#: order's (or family's) barcodes says nothing about how far the query is from the rest, which is what tells
#: a new genus of a known order from a query whose order the library lacks (the evidence's `gap`).
CONTRAST_RANKS = ("species", "genus", "subfamily", "family", "order")
#: Hits of another label added per such rank: the best `CONTRAST_HITS` of the first `CONTRAST_POOL` such
#: references in shared-seed order (seed counts misrank by a few points of identity: the issue's flood) ...
CONTRAST_HITS = 2
CONTRAST_POOL = 16
#: ... among this many references sharing the most seeds.
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


def _align_many(task: tuple[list[tuple[str, np.ndarray]], str]) -> list[list[tuple[int, Alignment]]]:
    pairs, strand = task
    return [rank_hits(query, _WORKER_BARCODES, positions, strand) for query, positions in pairs]


def _seed_hits_many(task: tuple[list[str], int, str, int | None]) -> list[list[tuple[int, Alignment]]]:
    """Shortlist by seeds (`SeedIndex.ranked`, within `budget` posting entries when given), then align: one
    worker's share of the queries. With `strand="both"` each query is shortlisted on both strands and aligned
    on the better one (`_minus_is_better`: a barcode shares hundreds of seeds with its own species on its
    strand, a handful by chance on the other)."""
    sequences, candidates, strand, budget = task
    depth = max(candidates, CONTRAST_DEPTH)
    plus = _WORKER_SEEDS.ranked(sequences, depth, budget)
    minus = _minus_ranked(sequences, plus, depth, budget) if strand == "both" else plus
    found = []
    for query, (on_plus, plus_counts), (on_minus, minus_counts) in zip(sequences, plus, minus):
        flip = strand == "both" and _minus_is_better(query, on_plus, plus_counts, on_minus, minus_counts, budget)
        positions, counts, side = (on_minus, minus_counts, "-") if flip else (on_plus, plus_counts, "+")
        most = int(counts[0]) if len(counts) else 0  # no reference shares more: the lemma's bound (rank_hits)
        hits = rank_hits(query, _WORKER_BARCODES, positions[:candidates], side, shared=SharedSeeds(counts, most))
        if hits and hits[0][1].identity < WIDEN_BELOW:  # far from everything: seed counts rank least well
            more = candidates + _few_per_species(positions[candidates : max(candidates, WIDE_CANDIDATES)])
            shared = SharedSeeds(counts[more], most)
            hits += rank_hits(query, _WORKER_BARCODES, positions[more], side, 0, hits[0][1].score, shared)
        hits += _contrast_hits(query, hits, positions, side)
        hits.sort(key=best_first)
        found.append(hits)
    return found


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
    minus = [reverse_complement(sequence) for sequence in sequences]
    held, seeds = _WORKER_SEEDS.held(minus)
    needed = [n for n, query in enumerate(sequences) if _minus_may_win(query, plus[n], held[n], seeds[n], budget)]
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
    has, which by the q-gram lemma (`SharedSeeds.may_be_within`) shares all but a few of its seeds; a query
    held end to end by its best plus reference (every barcode of a neighbour graph) cannot be beaten at all.
    Exact: the strand read is the same as if both were ranked (on the real file the minus strand of almost
    every query is skipped)."""
    positions, counts = plus
    if not len(counts):
        return True
    if not _strands_by_alignment(budget):
        return held > counts[0]
    slack = barcode_length(query) - align(query, _WORKER_BARCODES[positions[0]], "+").score
    edits = (slack - 1) // EDIT_PENALTY  # the most a minus alignment may have and still score higher
    return edits >= 0 and held >= seeds - ((len(SEED_PATTERN) + 1) * edits + slack)


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


def _contrast_hits(
    query: str, hits: list[tuple[int, Alignment]], ranked: np.ndarray, strand: str
) -> list[tuple[int, Alignment]]:
    """For each of `CONTRAST_RANKS` (lowest first) where no hit carries a label other than the best hit's,
    the best-aligned `CONTRAST_HITS` of the first `CONTRAST_POOL` references of another label in `ranked`
    (shared-seed order; the shortlist's own included where its bounded alignment left them out)."""
    if not hits:
        return []
    best, keys = hits[0][0], [key for key, _ in hits]
    extra: list[tuple[int, Alignment]] = []
    for codes in _WORKER_CODES.values():
        label = codes[best]
        if label < 0 or ((codes[keys] != label) & (codes[keys] >= 0)).any():
            continue
        others = ranked[(codes[ranked] != label) & (codes[ranked] >= 0)]
        pool: list[tuple[int, Alignment]] = []
        for key in others[~np.isin(others, keys)][:CONTRAST_POOL]:
            # once CONTRAST_HITS are aligned, a reference that cannot reach the last of the best is not aligned
            # in full (edlib stops early): the best CONTRAST_HITS are the same
            floor = pool[CONTRAST_HITS - 1][1].score if len(pool) >= CONTRAST_HITS else None
            found = align(query, _WORKER_BARCODES[key], strand, floor)
            if found is not None:
                pool.append((int(key), found))
                pool.sort(key=lambda hit: (-hit[1].score, hit[0]))
        extra += pool[:CONTRAST_HITS]
        keys += [key for key, _ in pool[:CONTRAST_HITS]]
    return extra


class Identifier:
    """Identifies batches of queries against one reference.

    `encoder`: an `Encoder` of `bioscan_hf.embedding` for `--model` (DNA shortlist by its neighbours, or
    photo queries with CLIBD); None: spaced seeds and alignment. `stored`: embeddings of that encoder
    (`bioscan-hf embed`), read by processid / query id instead of embedding those records again.
    `photo_keys`: a `bioscan_hf.search.Searcher` over an index with reference photos: photo queries are
    matched to those photos (with the index's model) instead of to reference barcodes.
    """

    def __init__(
        self,
        reference: Reference,
        thresholds: dict[str, float] | None = None,
        candidates: int = DEFAULT_CANDIDATES,
        margin: float = VOTE_MARGIN,
        encoder=None,
        num_proc: int = 1,
        stored=None,
        photo_keys=None,
        calibration: Calibration | Callable[[], Calibration] | None = None,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        strand: str = DEFAULT_STRAND,
        seed_budget: int | None = None,
    ) -> None:
        self.reference = reference
        #: posting entries a query's shortlist reads at most, rarest seeds first (None: every shared seed is
        #: counted where the index is in memory): a search of every barcode against all sets it (`graph.py`)
        self.seed_budget = seed_budget
        #: "both" (default): queries are searched on both strands; "plus": as given
        self.strand = strand
        #: the fixed identity rule (BOLD style) when given; else calls need `min_confidence`
        self.thresholds = thresholds
        self.calibration = calibration  # None: the default (BOLD) calibration, read when first needed
        self.min_confidence = min_confidence
        self.candidates = candidates
        self.margin = margin
        self.encoder = encoder
        self.stored = stored
        self.photo_keys = photo_keys
        if stored is not None:
            stored.check_model(encoder)
        self.num_proc = max(1, num_proc)
        self._pool = None
        self._key_vectors = None

    def close(self) -> None:
        """Stop the worker processes, if any."""
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def prepare(self) -> None:
        """Build, or open from the cache, what every DNA query needs, now rather than at the first query:
        the seed index and the calibration (under `accelerate launch` the main process does it first)."""
        if self.encoder is None:
            self.reference.seeds  # noqa: B018  (a property: built, or opened from the cache)
        self.calibration = self._calibration()

    def _neighbours(self, vectors: np.ndarray, k: int) -> tuple[list[np.ndarray], np.ndarray]:
        """Nearest distinct reference barcodes of embedded queries (the encoder's space), with similarities."""
        if self._key_vectors is None:
            barcodes = self.reference.barcodes
            first_records = [
                self.reference.table["processid"].iat[int(self.reference.records(k)[0])] for k in range(len(barcodes))
            ]
            keys = normalize(
                self._vectors("dna", first_records, lambda rows: self.encoder.embed_dna([barcodes[i] for i in rows]))
            )
            self._key_vectors = exact_index(keys)
        similarities, ids = self._key_vectors.search(normalize(vectors), min(k, len(self.reference.barcodes)))
        return [row[row >= 0] for row in ids], similarities

    def _vectors(self, modality: str, ids: Sequence[str], compute) -> np.ndarray:
        """Embeddings of records `ids`: from the stored file where it has them, else `compute(positions)`."""
        return stored_or_embedded(self.stored, modality, ids, compute)

    def shortlist(self, sequences: list[str], ids: Sequence[str] | None = None) -> list[np.ndarray]:
        """Candidate reference barcodes per query sequence (`ids`: the queries', for stored embeddings)."""
        if self.encoder is None:
            return self.reference.seeds.shortlist(sequences, self.candidates)
        vectors = self._vectors(
            "dna", ids or sequences, lambda rows: self.encoder.embed_dna([sequences[i] for i in rows], progress=False)
        )
        return self._neighbours(vectors, self.candidates)[0]

    def align(self, sequences: list[str], shortlists: list[np.ndarray]) -> list[list[tuple[int, Alignment]]]:
        """Exact alignment of each sequence with its candidates (in `num_proc` processes), on both strands
        unless `strand` is "plus" (an encoder's shortlist does not tell strands: each candidate is aligned
        both ways)."""
        strand = "both" if self.strand == "both" else "+"
        return self._map(_align_many, list(zip(sequences, shortlists)), lambda part: (part, strand))

    def seed_hits(
        self, sequences: list[str], meanwhile: Callable[[], object] | None = None
    ) -> list[list[tuple[int, Alignment]]]:
        """Shortlist by spaced seeds and align, each process a share of the sequences (`num_proc`);
        `meanwhile`: work of the main process done while they run (as `_map`)."""
        task = lambda part: (part, self.candidates, self.strand, self.seed_budget)  # noqa: E731
        return self._map(_seed_hits_many, sequences, task, meanwhile)

    def _map(self, work, items: list, task=lambda part: part, meanwhile: Callable[[], object] | None = None) -> list:
        """`work(task(part))` over contiguous parts of `items`, in `num_proc` forked processes (which
        inherit the reference's barcodes and seeds), results in order; `meanwhile()` is called in this
        process while they run (the first chunk of a run loads the calibration so, instead of before)."""
        if self.encoder is None:
            codes = {rank: self.reference.key_codes(rank) for rank in CONTRAST_RANKS}
            _set_worker_state(self.reference.barcodes, self.reference.seeds, codes)
        else:
            _set_worker_state(self.reference.barcodes, None, {})
        if self.num_proc == 1 or len(items) < 2 * self.num_proc:
            found = work(task(items))
            if meanwhile is not None:
                meanwhile()
            return found
        if self._pool is None:
            self._pool = multiprocessing.get_context("fork").Pool(self.num_proc)
        size = -(-len(items) // (4 * self.num_proc))
        pending = self._pool.map_async(work, [task(items[i : i + size]) for i in range(0, len(items), size)])
        if meanwhile is not None:
            meanwhile()
        return [hits for part in pending.get() for hits in part]

    def hits(self, queries: Sequence[Query], meanwhile: Callable[[], object] | None = None) -> dict[str, list[Hit]]:
        """Hits (best first) per distinct query barcode or photo (`meanwhile`: as `_map`, where seeds and
        alignment find them)."""
        hits_of: dict[str, list[Hit]] = {}
        first_id: dict[str, str] = {}
        for query in queries:
            if query.sequence:
                first_id.setdefault(query.sequence, query.id)
        sequences = sorted(first_id)  # each distinct barcode once
        if sequences:
            if self.encoder is None:
                aligned = self.seed_hits(sequences, meanwhile)
            else:
                aligned = self.align(sequences, self.shortlist(sequences, [first_id[s] for s in sequences]))
            size = self.reference.record_count
            for sequence, found in zip(sequences, aligned):
                length = max(1, barcode_length(sequence))
                found = sorted(found, key=lambda hit: (-hit[1].score, -hit[1].identity, -size(hit[0]), hit[0]))
                hits_of[sequence] = [Hit(key, a.identity, a.score, a.overlap / length, a.strand) for key, a in found]
        photos = [q for q in queries if q.image]
        if photos:
            hits_of.update(self._photo_hits(photos))
        return hits_of

    def identify(self, queries: Sequence[Query], top_k: int = 0) -> tuple[list[dict], list[dict]]:
        """One result row per query, and the hit rows (the best `top_k` per query)."""
        hits_of = self.hits(queries, meanwhile=self._calibration)  # read or fitted while the workers align
        found = [rank_evidence(self.reference, hits_of[q.sequence], self.margin) if q.sequence else {} for q in queries]
        if any(f for f in found):
            calibration = self._calibration()
            short = [barcode_length(q.sequence) < calibration.min_length for q, f in zip(queries, found) if f]
            confidence = confidences(calibration, [f for f in found if f], short)
            floor, shortest = calibration.floor(), calibration.shortest()
        rows, hit_rows, dna = [], [], 0
        for query, by_rank in zip(queries, found):
            hits = hits_of[query.sequence or query.image]
            stats = [self._stats(query, hit) for hit in hits[: max(top_k, 1)]]
            described = [self._describe(query, hit, s) for hit, s in zip(hits, stats)]
            if query.sequence:
                halves = stats[0].halves if stats else None  # the best hit's alignment, aligned once
                bases = barcode_length(query.sequence), shortest  # the query's, the fewest the calibration calls
                calls = call(hits, by_rank, confidence[dna], self.min_confidence, self.thresholds, floor, halves, bases)
                dna += 1
            else:
                calls = photo_call(self.reference, hits)
            row = {"query": query.id, **self._best(hits, described), **calls}
            if query.truth is not None:
                row.update({f"true_{rank}": query.truth.get(rank) for rank in CALL_RANKS})
            rows.append(row)
            hit_rows += [self._hit_row(query, n, hit, d) for n, (hit, d) in enumerate(zip(hits[:top_k], described), 1)]
        return rows, hit_rows

    def _calibration(self) -> Calibration:
        """The calibration given, fitted on first use when given as a function, or the default."""
        if callable(self.calibration):
            self.calibration = self.calibration()
        return self.calibration or default_calibration()

    def _stats(self, query: Query, hit: Hit) -> HitStats | None:
        """A DNA hit's alignment in BLAST's terms (None for a photo's hit)."""
        if hit.identity is None:
            return None
        return describe(query.sequence, self.reference.barcodes[hit.key], hit.strand)

    def _describe(self, query: Query, hit: Hit, stats: HitStats | None) -> dict:
        """A hit in BLAST's columns (DNA: its `stats`) or with its similarity (photos)."""
        if stats is None:
            return {"similarity": round(hit.score, 4)}
        return {
            "pident": stats.pident,
            "length": stats.length,
            "mismatch": stats.mismatch,
            "gapopen": stats.gapopen,
            "qstart": stats.qstart,
            "qend": stats.qend,
            "sstart": stats.sstart,
            "send": stats.send,
            "qcovs": round(100 * hit.coverage, 2),
            "strand": "plus" if hit.strand == "+" else "minus",
            "evalue": float(f"{stats.evalue(len(query.sequence), self.reference.bases):.3g}"),
            "bitscore": round(stats.bitscore(), 1),
        }

    def _photo_hits(self, photos: Sequence[Query]) -> dict[str, list[Hit]]:
        if self.encoder is None or not getattr(self.encoder, "has_images", False):
            raise InputError("photo queries need --model with a CLIBD folder (photos are matched to barcodes)")

        def compute(rows: np.ndarray) -> np.ndarray:
            images = [decode_image(photos[i].image, photos[i].image) for i in rows]
            return self.encoder.embed_images(images, progress=False)

        vectors = self._vectors("image", [q.id for q in photos], compute)
        if self.photo_keys is not None:
            return {q.image: self._photo_key_hits(vector) for q, vector in zip(photos, vectors)}
        ids, similarities = self._neighbours(vectors, PHOTO_NEIGHBOURS)
        return {
            q.image: [Hit(int(k), None, float(s)) for k, s in zip(row, sims)]
            for q, row, sims in zip(photos, ids, similarities)
        }

    def _photo_key_hits(self, vector: np.ndarray) -> list[Hit]:
        """The reference barcodes of the nearest reference photos (each barcode once, at its best photo);
        photos of records filtered out of the reference (--within, --country) are passed over."""
        index = self.photo_keys.indexes["image"]
        similarities, rows = index.search(normalize(vector[None]), min(4 * PHOTO_NEIGHBOURS, index.ntotal))
        hits: dict[int, Hit] = {}
        for row, similarity in zip(rows[0], similarities[0]):
            record = self.reference.row_of.get(self.photo_keys.keys["processid"].iat[int(row)]) if row >= 0 else None
            if record is not None:
                key = int(self.reference.key_of_record[record])
                hits.setdefault(key, Hit(key, None, float(similarity)))
        return list(hits.values())[:PHOTO_NEIGHBOURS]

    def _lineage(self, key: int) -> dict:
        first = self.reference.table.iloc[self.reference.representative(key)]
        return {"processid": first["processid"], **{rank: first[rank] for rank in CALL_RANKS}}

    def _best(self, hits: list[Hit], described: list[dict]) -> dict:
        """The best hit's id, identity, coverage and lineage (`best_hit_<rank>`)."""
        if not hits:
            return {"best_hit": None, **{f"best_hit_{rank}": None for rank in CALL_RANKS}}
        lineage = self._lineage(hits[0].key)
        columns = ("pident", "length", "qcovs", "evalue", "bitscore", "strand", "similarity")
        shown = {k: described[0][k] for k in columns if k in described[0]}
        return {
            "best_hit": lineage.pop("processid"),
            **shown,
            **{f"best_hit_{rank}": label for rank, label in lineage.items()},
        }

    def _hit_row(self, query: Query, n: int, hit: Hit, described: dict) -> dict:
        lineage = self._lineage(hit.key)
        return {
            "query": query.id,
            "hit": n,
            "sseqid": lineage.pop("processid"),
            "records": len(self.reference.records(hit.key)),
            **described,
            "score": hit.score,
            **lineage,
        }


def _set_worker_state(barcodes: list[str], seeds: SeedIndex | None, codes: dict[str, np.ndarray]) -> None:
    global _WORKER_BARCODES, _WORKER_SEEDS, _WORKER_CODES
    _WORKER_BARCODES, _WORKER_SEEDS, _WORKER_CODES = barcodes, seeds, codes
