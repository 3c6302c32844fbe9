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
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple, TypeVar

import numpy as np

from bioscan_hf.core.barcodes import barcode_length
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.vectors import exact_index, normalize
from bioscan_hf.data.images import decode_image
from bioscan_hf.data.schema import CALL_RANKS
from bioscan_hf.data.sources import Query
from bioscan_hf.search.align import Alignment, HitStats, describe
from bioscan_hf.search.calibration import ADAPTED_RANKS, Calibration, default_calibration
from bioscan_hf.search.calls import VOTE_MARGIN, Hit, call, confidences, photo_call, rank_evidence
from bioscan_hf.search.references import Reference
from bioscan_hf.search.settings import DEFAULT_CANDIDATES, DEFAULT_MIN_CONFIDENCE, DEFAULT_STRAND
from bioscan_hf.search.shortlist import CONTRAST_RANKS, PackedHits, align_many, seed_hits_many, set_worker_state


class RankedHits(NamedTuple):
    """Many sequences' hits, each sequence's best first, as flat arrays (sequence n's at
    `starts[n]:starts[n + 1]`; `coverage`: the share of the sequence the alignment covers)."""

    starts: np.ndarray
    keys: np.ndarray
    identities: np.ndarray
    scores: np.ndarray
    coverage: np.ndarray
    minus: np.ndarray


#: Neighbours voting on a photo query's call.
PHOTO_NEIGHBOURS = 10
#: What a caller tags each chunk with (`Identifier.identify_chunks`).
K = TypeVar("K")


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
        from bioscan_hf.embedding.store import stored_or_embedded  # only runs with an encoder: torch

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
        return PackedHits.joined([found for _, found in self._align_started(sequences, shortlists)()]).lists()

    def seed_hits(self, sequences: list[str]) -> list[list[tuple[int, Alignment]]]:
        """Shortlist by spaced seeds and align, each process a share of the sequences (`num_proc`)."""
        return PackedHits.joined([found for _, found in self._seeds_started(sequences)()]).lists()

    def _align_started(self, sequences: list[str], shortlists: list[np.ndarray]) -> Callable[[], Iterator]:
        strand = "both" if self.strand == "both" else "+"
        return self._started(align_many, list(zip(sequences, shortlists)), lambda part: (part, strand))

    def _seeds_started(self, sequences: list[str]) -> Callable[[], Iterator]:
        task = lambda part: (part, self.candidates, self.strand, self.seed_budget)  # noqa: E731
        return self._started(seed_hits_many, sequences, task)

    def _started(self, work, items: list, task=lambda part: part) -> Callable[[], Iterator[tuple[int, PackedHits]]]:
        """`work(task(part))` over contiguous parts of `items`, handed to `num_proc` forked processes (which
        inherit the reference's barcodes and seeds); calling the result gives each part's results as the
        processes finish them, in order, with the part's first item (with one process, or too few items to
        share, the work is done here and now, as one part)."""
        if self.encoder is None:
            codes = {rank: self.reference.key_codes(rank) for rank in CONTRAST_RANKS}
            set_worker_state(self.reference.barcodes, self.reference.seeds, codes, self.reference.encoded)
        else:
            set_worker_state(self.reference.barcodes, None, {}, self.reference.encoded)
        if self.num_proc == 1 or len(items) < 2 * self.num_proc:
            found = work(task(items))
            return lambda: iter([(0, found)])
        if self._pool is None:
            self._pool = multiprocessing.get_context("fork").Pool(self.num_proc)
        size = -(-len(items) // (4 * self.num_proc))
        firsts = range(0, len(items), size)
        pending = self._pool.imap(work, [task(items[i : i + size]) for i in firsts])  # all handed out now
        return lambda: zip(firsts, pending)

    def hits(self, queries: Sequence[Query]) -> dict[str, list[Hit]]:
        """Hits (best first) per distinct query barcode or photo."""
        return {key: hits for part in self._hits_started(queries)() for key, hits in part.items()}

    def _hits_started(self, queries: Sequence[Query]) -> Callable[[], Iterator[dict[str, list[Hit]]]]:
        """`hits`, its seeds and alignment handed to the worker processes; calling the result gives the hits
        part by part as the processes finish them (photos' last)."""
        first_id: dict[str, str] = {}
        for query in queries:
            if query.sequence:
                first_id.setdefault(query.sequence, query.id)
        sequences = sorted(first_id)  # each distinct barcode once
        if not sequences:
            aligned = lambda: iter(())  # noqa: E731
        elif self.encoder is None:
            aligned = self._seeds_started(sequences)
        else:
            aligned = self._align_started(sequences, self.shortlist(sequences, [first_id[s] for s in sequences]))

        def parts() -> Iterator[dict[str, list[Hit]]]:
            for first, found in aligned():
                yield self._dna_hits(sequences[first : first + len(found.starts) - 1], found)
            photos = [q for q in queries if q.image]
            if photos:
                yield self._photo_hits(photos)

        return parts

    def _dna_hits(self, sequences: list[str], found: PackedHits) -> dict[str, list[Hit]]:
        """Each sequence's hits (`found`, in `sequences`' order), best first (`_ranked`)."""
        ranked = self._ranked(sequences, found)
        strands = np.where(ranked.minus, "-", "+")
        columns = (ranked.keys, ranked.identities, ranked.scores, ranked.coverage, strands)
        hits = [Hit(*fields) for fields in zip(*(column.tolist() for column in columns))]
        starts = ranked.starts.tolist()
        return {sequence: hits[starts[n] : starts[n + 1]] for n, sequence in enumerate(sequences)}

    def ranked_hits(self, sequences: list[str]) -> RankedHits:
        """Each of `sequences`' hits by seeds and alignment, best first, as flat arrays (`_ranked`): what the
        neighbour graph keeps of each barcode's, read without making a `Hit` of every hit."""
        return self._ranked(sequences, PackedHits.joined([found for _, found in self._seeds_started(sequences)()]))

    def _ranked(self, sequences: list[str], found: PackedHits) -> RankedHits:
        """`found` (hits of `sequences`, in order) each sequence's best first: by score, then identity, then the
        records carrying the reference barcode (a barcode shared by two species: the better supported name),
        then position; with the share of the sequence each covers."""
        query_of = np.repeat(np.arange(len(sequences)), np.diff(found.starts))
        records = self.reference.record_counts[found.keys]
        order = np.lexsort((found.keys, -records, -found.identities, -found.scores, query_of))
        lengths = np.array([max(1, barcode_length(s)) for s in sequences], dtype=np.int64)
        coverage = found.overlaps[order] / lengths[query_of]  # (`query_of` is in order already)
        return RankedHits(
            found.starts, found.keys[order], found.identities[order], found.scores[order], coverage, found.minus[order]
        )

    def identify(self, queries: Sequence[Query], top_k: int = 0) -> tuple[list[dict], list[dict]]:
        """One result row per query, and the hit rows (the best `top_k` per query)."""
        _, rows, hit_rows = next(self.identify_chunks([(None, queries)], top_k))
        return rows, hit_rows

    def identify_chunks(
        self, chunks: Iterable[tuple[K, Sequence[Query]]], top_k: int = 0
    ) -> Iterator[tuple[K, list[dict], list[dict]]]:
        """`identify` of each `(key, queries)` in order, yielding `(key, rows, hit_rows)`: the workers search
        the next chunk while this process makes the calls of the one before, part by part as the workers
        finish them (and, at the first, reads or fits the calibration), so neither waits on the other."""
        before = None
        for key, queries in chunks:
            started = key, queries, self._hits_started(queries)
            if before is not None:
                yield self._calls(*before, top_k)
            elif self.encoder is None and any(q.sequence for q in queries):
                self._calibration()  # read or fitted while the workers align the first chunk
            before = started
        if before is not None:
            yield self._calls(*before, top_k)

    def _calls(
        self, key: K, queries: Sequence[Query], pending: Callable[[], Iterator[dict[str, list[Hit]]]], top_k: int
    ) -> tuple[K, list[dict], list[dict]]:
        """A chunk's result rows and hit rows, from its hits (`pending`: gives them part by part, the calls
        of each part's queries made as it comes)."""
        waiting: dict[str | None, list[int]] = {}
        for n, query in enumerate(queries):
            waiting.setdefault(query.sequence or query.image, []).append(n)
        rows: list[dict | None] = [None] * len(queries)
        hit_rows: list[list[dict]] = [[] for _ in queries]

        def made(ready: list[int], hits_of: dict[str, list[Hit]]) -> None:
            for n, row, its_hit_rows in zip(ready, *self._rows([queries[n] for n in ready], hits_of, top_k)):
                rows[n], hit_rows[n] = row, its_hit_rows

        for hits_of in pending():
            made([n for found in hits_of for n in waiting.pop(found, ())], hits_of)
        made([n for left in waiting.values() for n in left], {})  # nothing to search: no hits
        return key, rows, [row for its_hit_rows in hit_rows for row in its_hit_rows]

    def _rows(
        self, queries: list[Query], hits_of: dict[str, list[Hit]], top_k: int
    ) -> tuple[list[dict], list[list[dict]]]:
        """The result row and the hit rows of each query, from `hits_of` (none for a query it lacks)."""
        found = [
            rank_evidence(self.reference, hits_of.get(q.sequence, []), self.margin) if q.sequence else {}
            for q in queries
        ]
        if any(f for f in found):
            calibration = self._calibration()
            short = [barcode_length(q.sequence) < calibration.min_length for q, f in zip(queries, found) if f]
            confidence = confidences(calibration, [f for f in found if f], short)
            floor, shortest = calibration.floor(), calibration.shortest()
        rows, hit_rows, dna = [], [], 0
        for query, by_rank in zip(queries, found):
            hits = hits_of.get(query.sequence or query.image, [])
            stats = [self._stats(query, hit) for hit in hits[: max(top_k, 1)]]
            described = [self._describe(query, hit, s) for hit, s in zip(hits, stats)]
            if query.sequence:
                halves = stats[0].halves if stats else None  # the best hit's alignment, aligned once
                bases = barcode_length(query.sequence), shortest  # the query's, the fewest the calibration calls
                calls = call(hits, by_rank, confidence[dna], self.min_confidence, self.thresholds, floor, halves, bases)
                for rank in ADAPTED_RANKS:  # what its confidences assume of a plate (`plate.adapt_to_plate`)
                    calls[f"_{rank}_trained"] = calibration.trained_share(rank, short[dna])
                dna += 1
            else:
                calls = photo_call(self.reference, hits)
            row = {"query": query.id, **self._best(hits, described), **calls}
            if query.truth is not None:
                row.update({f"true_{rank}": query.truth.get(rank) for rank in CALL_RANKS})
            rows.append(row)
            hit_rows.append(
                [self._hit_row(query, n, hit, d) for n, (hit, d) in enumerate(zip(hits[:top_k], described), 1)]
            )
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

    def _best(self, hits: list[Hit], described: list[dict]) -> dict:
        """The best hit's id, identity, coverage and lineage (`best_hit_<rank>`)."""
        if not hits:
            return {"best_hit": None, **{f"best_hit_{rank}": None for rank in CALL_RANKS}}
        lineage = self.reference.lineage(hits[0].key)
        columns = ("pident", "length", "qcovs", "evalue", "bitscore", "strand", "similarity")
        shown = {k: described[0][k] for k in columns if k in described[0]}
        return {
            "best_hit": lineage.pop("processid"),
            **shown,
            **{f"best_hit_{rank}": label for rank, label in lineage.items()},
        }

    def _hit_row(self, query: Query, n: int, hit: Hit, described: dict) -> dict:
        lineage = self.reference.lineage(hit.key)
        return {
            "query": query.id,
            "hit": n,
            "sseqid": lineage.pop("processid"),
            "records": len(self.reference.records(hit.key)),
            **described,
            "score": hit.score,
            **lineage,
        }
