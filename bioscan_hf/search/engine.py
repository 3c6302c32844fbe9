"""The identification engine: shortlist, exact alignment, and a call per rank with its confidence.

For a DNA query: the distinct reference barcodes sharing the most spaced seeds with it (`seeds.py`; or
its nearest neighbours under `--model`, any encoder of `bioscan_hf.embedding`) are aligned exactly
(`align.py`); hits are ranked by alignment score. At each rank the call is made only when the best hit's
identity reaches that rank's threshold (`DEFAULT_THRESHOLDS`, in the style of BOLD's ID engine:
species 98%, genus 95%, family 90%, order 85%; the BIN, like species, 98%). The references voting are
the hits within `VOTE_MARGIN` of the best identity and above the threshold; the call is their most
common label (counted over records) and its confidence is the share of voting records that carry it,
shrunk towards 0 when few vote (`agree / (voters + 1)`): one reference alone never gives more than 0.5.
A rank is also left uncalled where the voting references carry no label there (no note). Below the
threshold the rank is left uncalled and the note says so (at species: likely undescribed, the
open-world case of BIOSCAN-5M's unseen splits).

For a photo (a CLIBD model, `--model`): the nearest reference barcodes in CLIBD's shared space vote the
same way (no identity: the similarity is reported, and no threshold applies).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from bioscan_hf.core.vectors import exact_index, normalize
from bioscan_hf.data.images import decode_image
from bioscan_hf.data.sources import CALL_RANKS, Query
from bioscan_hf.embedding.store import stored_or_embedded
from bioscan_hf.search.align import Alignment, rank_hits
from bioscan_hf.search.seeds import SeedIndex

DEFAULT_THRESHOLDS: dict[str, float] = {
    "order": 0.85,
    "family": 0.90,
    "subfamily": 0.92,
    "genus": 0.95,
    "species": 0.98,
    "dna_bin": 0.98,
}
#: Hits within this much identity of the best one vote on the call.
VOTE_MARGIN = 0.01
#: Distinct reference barcodes aligned per query (BENCHMARKS.md: as accurate as aligning all of them).
DEFAULT_CANDIDATES = 50
#: Below this share of the query covered by the best hit, no rank is called: a query much longer than
#: the barcode it matches (a barcode repeated, a contig) would otherwise be called on a fragment of itself.
#: Partial reads shorter than the references are covered whole and are called as before.
MIN_QUERY_COVERAGE = 0.8
#: Neighbours voting on a photo query's call.
PHOTO_NEIGHBOURS = 10


@dataclass
class Hit:
    """A reference barcode found for a query."""

    key: int
    identity: float | None
    score: float
    #: Share of the query's bases the alignment covers (None for photos).
    coverage: float | None = None


class Reference:
    """A reference table grouped by distinct barcode, with label codes per rank for fast votes."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        codes, barcodes = pd.factorize(table["dna_barcode"], sort=False)
        self.barcodes: list[str] = list(barcodes)
        #: distinct-barcode key of each record
        self.key_of_record = codes
        order = np.argsort(codes, kind="stable")
        self._records = order  # record rows grouped by barcode
        self._starts = np.searchsorted(codes[order], np.arange(len(barcodes) + 1))
        self.labels: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for rank in CALL_RANKS:
            values, names = pd.factorize(table[rank], use_na_sentinel=True)
            self.labels[rank] = (values, np.asarray(names, dtype=object))
        self._seeds: SeedIndex | None = None

    @cached_property
    def row_of(self) -> dict[str, int]:
        """Each record's row by processid (built on first use: only photo keys need it)."""
        return {pid: row for row, pid in enumerate(self.table["processid"])}

    @property
    def seeds(self) -> SeedIndex:
        """The spaced-seed index over the distinct barcodes (built on first use)."""
        if self._seeds is None:
            self._seeds = SeedIndex(self.barcodes, progress=len(self.barcodes) > 50_000)
        return self._seeds

    def records(self, key: int) -> np.ndarray:
        """Rows of the table carrying distinct barcode `key`."""
        return self._records[self._starts[key] : self._starts[key + 1]]

    def vote(self, keys: Sequence[int], rank: str) -> tuple[str | None, int, int]:
        """(most common label, records carrying it, labelled records) over the records of `keys`."""
        if not len(keys):
            return None, 0, 0
        rows = np.concatenate([self.records(k) for k in keys])
        values, names = self.labels[rank]
        labelled = values[rows]
        labelled = labelled[labelled >= 0]
        if not len(labelled):
            return None, 0, 0
        counts = np.bincount(labelled)
        best = int(np.argmax(counts))  # ties: the label met first in the reference table
        return str(names[best]), int(counts[best]), len(labelled)


def call(reference: Reference, hits: Sequence[Hit], thresholds: dict[str, float], margin: float) -> dict:
    """Per-rank calls, confidences, support and a note for one query's hits (best first)."""
    row: dict = {}
    notes = []
    best = hits[0] if hits else None
    for rank in CALL_RANKS:
        label, agree, voters, why = None, 0, 0, ""
        if best is None:
            why = "no reference shares a seed with the query"
        elif best.identity is None:  # photo: neighbours vote, no identity threshold
            label, agree, voters = reference.vote([h.key for h in hits], rank)
        elif best.coverage is not None and best.coverage < MIN_QUERY_COVERAGE:
            why = f"the best hit covers {best.coverage:.1%} of the query; trim the query to its barcode"
        elif best.identity < thresholds[rank]:
            why = f"best hit {best.identity:.2%} < {thresholds[rank]:.0%}"
        else:
            floor = max(thresholds[rank], best.identity - margin)
            label, agree, voters = reference.vote([h.key for h in hits if h.identity >= floor], rank)
        row[rank] = label
        row[f"{rank}_confidence"] = round(agree / (voters + 1), 4) if label else 0.0
        row[f"{rank}_support"] = agree
        if why and rank != "dna_bin":
            notes.append((rank, why))
    if notes:
        rank, why = notes[0]
        row["note"] = f"no match at {rank} ({why})" + (": likely undescribed" if rank == "species" else "")
    else:
        row["note"] = ""
    return row


_WORKER_BARCODES: list[str] = []


def _align_many(tasks: list[tuple[str, np.ndarray]]) -> list[list[tuple[int, Alignment]]]:
    return [rank_hits(query, _WORKER_BARCODES, positions) for query, positions in tasks]


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
    ) -> None:
        self.reference = reference
        self.thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
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
        """Exact alignment of each sequence with its candidates (in `num_proc` processes)."""
        tasks = list(zip(sequences, shortlists))
        _set_worker_barcodes(self.reference.barcodes)  # forked workers inherit it
        if self.num_proc == 1 or len(tasks) < 2 * self.num_proc:
            return _align_many(tasks)
        if self._pool is None:
            self._pool = multiprocessing.get_context("fork").Pool(self.num_proc)
        size = -(-len(tasks) // (4 * self.num_proc))
        parts = self._pool.map(_align_many, [tasks[i : i + size] for i in range(0, len(tasks), size)])
        return [hits for part in parts for hits in part]

    def identify(self, queries: Sequence[Query], top_k: int = 0) -> tuple[list[dict], list[dict]]:
        """One result row per query, and the hit rows (the best `top_k` per query)."""
        hits_of: dict[str, list[Hit]] = {}
        first_id: dict[str, str] = {}
        for query in queries:
            if query.sequence:
                first_id.setdefault(query.sequence, query.id)
        sequences = sorted(first_id)  # each distinct barcode once
        if sequences:
            aligned = self.align(sequences, self.shortlist(sequences, [first_id[s] for s in sequences]))
            for sequence, found in zip(sequences, aligned):
                length = max(1, len(sequence.strip("N")))
                hits_of[sequence] = [Hit(key, a.identity, a.score, a.overlap / length) for key, a in found]
        photos = [q for q in queries if q.image]
        if photos:
            hits_of.update(self._photo_hits(photos))
        rows, hit_rows = [], []
        for query in queries:
            hits = hits_of[query.sequence or query.image]
            row = {"query": query.id, **self._best(hits), **call(self.reference, hits, self.thresholds, self.margin)}
            if query.truth is not None:
                row.update({f"true_{rank}": query.truth.get(rank) for rank in CALL_RANKS})
            rows.append(row)
            hit_rows += [self._hit_row(query.id, n, hit) for n, hit in enumerate(hits[:top_k], start=1)]
        return rows, hit_rows

    def _photo_hits(self, photos: Sequence[Query]) -> dict[str, list[Hit]]:
        if self.encoder is None or not getattr(self.encoder, "has_images", False):
            raise ValueError("photo queries need --model with a CLIBD folder (photos are matched to barcodes)")

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

    def _best(self, hits: list[Hit]) -> dict:
        if not hits:
            return {"best_hit": None, "identity": None, "qcovs": None, "similarity": None, "hits": 0}
        best = hits[0]
        return {
            "best_hit": self.reference.table["processid"].iat[int(self.reference.records(best.key)[0])],
            "identity": None if best.identity is None else round(best.identity, 4),
            "qcovs": None if best.coverage is None else round(best.coverage, 4),
            "similarity": round(best.score, 4) if best.identity is None else None,
            "hits": len(hits),
        }

    def _hit_row(self, query_id: str, n: int, hit: Hit) -> dict:
        records = self.reference.records(hit.key)
        first = self.reference.table.iloc[int(records[0])]
        return {
            "query": query_id,
            "hit": n,
            "processid": first["processid"],
            "records": len(records),
            "identity": None if hit.identity is None else round(hit.identity, 4),
            "qcovs": None if hit.coverage is None else round(hit.coverage, 4),
            "score": hit.score,
            **{rank: first[rank] for rank in CALL_RANKS},
        }


def _set_worker_barcodes(barcodes: list[str]) -> None:
    global _WORKER_BARCODES
    _WORKER_BARCODES = barcodes
