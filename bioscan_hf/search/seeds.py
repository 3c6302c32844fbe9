"""The shortlist before alignment: a codon-aware spaced-seed index over distinct reference barcodes.

COI is protein coding, and most differences between related species fall on third codon positions. A
spaced seed that reads two bases and skips one (`SEED_PATTERN`, as discontiguous MegaBLAST's coding
templates do) survives those changes where a contiguous k-mer does not. Every distinct reference barcode
is reduced to its set of seeds; a query's candidates are the references sharing the most seeds with it.
On the real BOLD file (keys `train`, queries `test_unseen`, 88–90% identity to the nearest other species)
the top 50 by shared seeds held the alignment-best reference for 95.8% of queries, the top 200 for 99.8%;
a 10-mer set needed 100+ and a 6-mer profile 200+ (BENCHMARKS.md).

Storage: an inverted index (for each seed, the barcodes holding it), ~600 entries of 4 bytes per 658-nt
barcode: ~2.4 GB at 1M distinct barcodes, ~5 GB for BIOSCAN-5M's ~2M. The lists name barcodes by slots ordered
by a min-hash of their seeds, so barcodes sharing most of their seeds sit side by side, and the counts a query
adds fall on few cache lines (`slot_order`). In memory, every shared seed is counted
(a seed most barcodes hold, from the shorter list of those lacking it); from `CACHED_FROM` distinct barcodes
the index is saved into the cache folder once and read back by later runs. From `ON_DISK_ABOVE` it is built
once into the cache folder and memory-mapped from there (`seed_index`), and a query reads its rarest seeds'
lists first, up to `SEED_BUDGET` entries, so its work does not grow with the library (a large library's common
seeds are held by most barcodes). Seed sampling (minimizers, mod-sampling) would shrink the index but cost
accuracy at the genus level on the real file (1 in 4 seeds: −1.3 points), so every seed is kept.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import mmap
import os
import shutil
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from bioscan_hf.core.barcodes import UNKNOWN_CODE, base_codes
from bioscan_hf.core.console import progress_bar
from bioscan_hf.core.errors import InputError, MissingFileError
from bioscan_hf.core.paths import cache_dir
from bioscan_hf.search.complements import NO_COMPLEMENTS, complements

#: Read two, skip one, over 16 bases: 11 informative positions, 4**11 possible seeds.
SEED_PATTERN = "1101101101101101"
#: The most seeds of a query one edit can cost it (`seeds_lost`): those of the windows it touches, and one
#: for the span it shortens.
LOST_PER_EDIT = len(SEED_PATTERN) + 1
_POSITIONS = np.array([i for i, c in enumerate(SEED_PATTERN) if c == "1"])
if not np.array_equal(_POSITIONS[2:], _POSITIONS[:-2] + 3):  # what `_seed_kernels._next_seed` rolls on
    raise ImportError("SEED_PATTERN must repeat every three bases, two read and one skipped")
_WEIGHTS = 4 ** np.arange(len(_POSITIONS) - 1, -1, -1, dtype=np.int64)
N_SEEDS = 4 ** len(_POSITIONS)
_SEED_BITS = 2 * len(_POSITIONS)  # a seed's bits in `_batch_seeds`' keys
#: How the compiled kernels read a window's seed: the pattern's read positions, their weights, the first code
#: that is not a base, the window's span.
SEED_WINDOW = (_POSITIONS, _WEIGHTS, UNKNOWN_CODE, len(SEED_PATTERN))
#: Posting entries a query reads at most, its rarest seeds first (a query's work stays bounded however
#: large the library: ~20 ms at BIOSCAN-5M's ~2.3M distinct barcodes; BENCHMARKS.md).
SEED_BUDGET = 20_000_000
#: Written last into a seed-index folder: its barcodes and format version.
SEEDS_MANIFEST = "seeds.json"
SEEDS_VERSION = 2
#: Libraries of this many distinct barcodes or more keep their seed index on disk (~0.5 GB at 200,000).
ON_DISK_ABOVE = 200_000
#: Libraries of this many or more (and under `ON_DISK_ABOVE`) save their index into the cache folder once
#: and read it back whole at later runs, as blastn reads a database made once (16,238 distinct barcodes:
#: 2.7 s to build, ~0.1 s to read).
CACHED_FROM = 10_000
#: Barcodes seeded together (~13M windows at 658 bases: ~0.3 GB of working arrays).
_SEED_BATCH = 20_000
#: Queries between two releases of the index pages a search mapped in (`SeedIndex.release_pages`).
RELEASE_EVERY = 16
#: Bits of a reference position in `_top`'s sort key (positions are int32).
_POSITION_BITS = 32
_SCRATCH = threading.local()


def seed_codes(barcode: str) -> np.ndarray:
    """The distinct seeds of one barcode (sorted int64 codes); windows holding an `N` give none."""
    bases = base_codes(barcode)
    if len(bases) < len(SEED_PATTERN):
        return np.zeros(0, dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(bases, len(SEED_PATTERN))[:, _POSITIONS]
    windows = windows[(windows < UNKNOWN_CODE).all(axis=1)].astype(np.int64)
    return np.unique(windows @ _WEIGHTS)


def _batch_seeds(batch: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(row, seed) of every distinct seed of every barcode of `batch`, sorted by row then seed (a query's seeds)."""
    from bioscan_hf.search import _seed_kernels  # here: numba takes a fraction of a second to import

    lengths, bases = _joined(batch)
    keys = np.empty(max(0, len(bases) - len(SEED_PATTERN) + 1), dtype=np.int64)
    found = _seed_kernels.seed_keys(bases, lengths, *SEED_WINDOW, N_SEEDS, keys)
    keys = np.sort(keys[:found])  # sort and drop repeats (np.unique hashes first: slower)
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys
    return keys >> _SEED_BITS, keys & (N_SEEDS - 1)  # (dividing took ~30% of the keys' time)


def _index_seeds(batch: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(row, seed) of every distinct seed of every barcode of `batch`, by row (within a row unordered: an index's
    lists need only their rows in order)."""
    from bioscan_hf.search import _seed_kernels  # here: numba takes a fraction of a second to import

    lengths, bases = _joined(batch)
    rows, codes = np.empty(len(bases), dtype=np.int32), np.empty(len(bases), dtype=np.int32)  # (half the pages)
    found = _seed_kernels.distinct_seeds(bases, lengths, *SEED_WINDOW, _stamp(), rows, codes)
    return rows[:found], codes[:found]


def _joined(batch: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The barcodes' lengths, and their base codes joined."""
    return np.fromiter(map(len, batch), dtype=np.int64, count=len(batch)), base_codes("".join(batch))


def seed_batches(barcodes: Sequence[str]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first position, lengths, base codes joined) of each `_SEED_BATCH` barcodes: what the compiled seed
    kernels read, with `SEED_WINDOW`."""
    for start in range(0, len(barcodes), _SEED_BATCH):
        yield start, *_joined(barcodes[start : start + _SEED_BATCH])


def _stamp() -> np.ndarray:
    """This thread's zeroed scratch array of one int32 per possible seed (`_seed_kernels.distinct_seeds`; one per
    thread: the Space serves requests in threads)."""
    if not hasattr(_SCRATCH, "stamp"):
        _SCRATCH.stamp = np.zeros(N_SEEDS, dtype=np.int32)
    return _SCRATCH.stamp


class SeedIndex:
    """Distinct reference barcodes, searchable by shared spaced seeds.

    The inverted index is three arrays: `indptr` (one entry per possible seed), `postings` (for each seed,
    the slots of the barcodes holding it, ascending; int32) and `order` (each slot's barcode position;
    `slot_order`). Built in memory, or into a folder (`build(..., folder=...)`) that `open` maps from disk
    instead of reading: pages are loaded as queries touch them, and several processes share them. Its
    methods take and return barcode positions; slots stay inside.
    """

    def __init__(
        self,
        indptr: np.ndarray,
        postings: np.ndarray,
        size: int,
        order: np.ndarray,
        budget: int = SEED_BUDGET,
        mapping: mmap.mmap | None = None,
    ) -> None:
        self.indptr, self.postings, self.size, self.order, self.budget = indptr, postings, size, order, budget
        #: the read-only map of postings.npy for an index opened from disk (None: in memory)
        self.mapping = mapping
        #: the seeds `_budgeted` counts from the barcodes lacking them (made here: worker processes share it)
        self.complements = complements(indptr, postings, size) if mapping is None else NO_COMPLEMENTS
        #: a mask of the slots never listed (`hiding`); None: every one may be
        self.hidden: np.ndarray | None = None

    def hiding(self, hidden: np.ndarray) -> SeedIndex:
        """This index, sharing its arrays, with the barcodes of the mask `hidden` (by position) never listed:
        what a subset of its library searches (`Reference.subset`)."""
        index = copy.copy(self)
        index.hidden = hidden[self.order] if hidden.any() else None
        return index

    @classmethod
    def build(
        cls, barcodes: Sequence[str], progress: bool = False, folder: str | os.PathLike | None = None
    ) -> SeedIndex:
        """Index `barcodes`: in memory (their seeds computed once, then sorted by seed), or written into
        `folder` in two passes over the barcodes (count each seed's barcodes, then place them), so memory
        holds one batch however many barcodes; complete only when `seeds.json` is there (then `open` it). The
        barcodes are seeded in slot order (`slot_order`) and placed so (`_seed_kernels.place`): each seed's list
        holds its slots ascending."""
        from bioscan_hf.search import _seed_kernels  # here: numba takes a fraction of a second to import

        order = slot_order(barcodes)
        slotted = [barcodes[i] for i in order.tolist()]
        if folder is None:
            batches = [(rows + start, codes) for start, (rows, codes) in _seeded_batches(slotted, progress, "seeding")]
            rows = np.concatenate([b[0] for b in batches]) if batches else np.zeros(0, dtype=np.int64)
            codes = np.concatenate([b[1] for b in batches]) if batches else np.zeros(0, dtype=np.int64)
            indptr = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=N_SEEDS))])
            postings = np.empty(int(indptr[-1]), dtype=np.int32)
            _seed_kernels.place(rows, codes, indptr[:-1].copy(), postings)
            return cls(indptr, postings, len(barcodes), order)
        counts = np.zeros(N_SEEDS, dtype=np.int64)
        for _, batch in _seeded_batches(slotted, progress, "counting seeds"):
            counts += np.bincount(batch[1], minlength=N_SEEDS)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / SEEDS_MANIFEST).unlink(missing_ok=True)
        np.save(folder / "indptr.npy", indptr)
        np.save(folder / "order.npy", order)
        postings = np.lib.format.open_memmap(folder / "postings.npy", "w+", np.int32, (int(indptr[-1]),))
        cursor = indptr[:-1].copy()
        for start, (rows, codes) in _seeded_batches(slotted, progress, "placing seeds"):
            _seed_kernels.place(rows + start, codes, cursor, np.asarray(postings))
        postings.flush()
        del postings
        (folder / SEEDS_MANIFEST).write_text(json.dumps({"barcodes": len(barcodes), "version": SEEDS_VERSION}))
        return cls.open(folder)

    @classmethod
    def open(cls, folder: str | os.PathLike, in_memory: bool = False) -> SeedIndex:
        """An index written by `build(..., folder=...)` or `save`, memory-mapped (read-only), or read whole
        into memory (`in_memory`: then searched as one built in memory, every shared seed counted)."""
        folder = Path(folder)
        manifest = folder / SEEDS_MANIFEST
        again = "remove that folder (the index is built again at the next run)"
        if not manifest.is_file() or json.loads(manifest.read_text()).get("version") != SEEDS_VERSION:
            raise MissingFileError(f"{folder} holds no complete seed index of this version; {again}")
        size = json.loads(manifest.read_text())["barcodes"]
        try:
            indptr, order = np.load(folder / "indptr.npy"), np.load(folder / "order.npy")
            postings, mapping = (
                (np.load(folder / "postings.npy"), None) if in_memory else _map_array(folder / "postings.npy")
            )
        except (OSError, ValueError) as err:
            raise MissingFileError(f"{folder}: a damaged seed index ({err}); {again}") from None
        slots_fit = order.shape == (size,) and (size == 0 or 0 <= order.min() <= order.max() < size)  # (compiled reads)
        if indptr.shape != (N_SEEDS + 1,) or indptr[-1] != len(postings) or not slots_fit:
            raise MissingFileError(f"{folder}: a damaged seed index (its arrays disagree); {again}")
        return cls(indptr, postings, size, order, mapping=mapping)

    def save(self, folder: str | os.PathLike) -> None:
        """Write an index built in memory into `folder` as `build(..., folder=...)` does (the manifest last)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "indptr.npy", self.indptr)
        np.save(folder / "postings.npy", self.postings)
        np.save(folder / "order.npy", self.order)
        (folder / SEEDS_MANIFEST).write_text(json.dumps({"barcodes": self.size, "version": SEEDS_VERSION}))

    def release_pages(self) -> None:
        """Unmap the index pages this process has read (an index on disk; Linux and macOS): they stay in
        the OS page cache, shared and reclaimable, and are mapped again at their next read. A search calls
        it every `RELEASE_EVERY` queries, so its resident memory holds the pages of a few queries, not
        every page of the index it ever touched."""
        if self.mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
            self.mapping.madvise(mmap.MADV_DONTNEED)

    @property
    def nbytes(self) -> int:
        """Bytes of the index (in memory, or mapped from disk)."""
        return self.indptr.nbytes + self.postings.nbytes

    def shortlist(self, queries: Sequence[str], candidates: int) -> list[np.ndarray]:
        """For each query, up to `candidates` reference positions, most shared seeds first (`ranked`)."""
        return [positions for positions, _ in self.ranked(queries, candidates)]

    def ranked(
        self, queries: Sequence[str], candidates: int, budget: int | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each query, up to `candidates` reference positions, most shared seeds first (ties: lower
        position first), with their shared-seed counts; references sharing no seed are never listed.

        An index in memory (a library under `ON_DISK_ABOVE` distinct barcodes) counts every shared seed
        unless a `budget` is given (a compiled count per query: half the time of a sparse product of the
        plate's seeds with the postings, and no plate × library matrix). An index on disk, or one given a
        `budget`, reads at most that many posting entries per query (`self.budget` by default), its rarest
        seeds first: the commonest seeds of a large library are held by a large share of it and tell little
        apart, and leaving them uncounted keeps a query's work bounded however large the library grows (the
        counts are exact wherever a query's lists fit the budget). A search of every barcode against all
        (`graph.py`) is then linear in the library, not quadratic."""
        if budget is None:
            budget = self.budget if self.mapping is not None else len(self.postings)  # in memory: every list
        found = []
        for n, codes in enumerate(_query_seeds(queries), start=1):
            found.append(self._budgeted(codes, candidates, budget))
            if n % RELEASE_EVERY == 0:
                self.release_pages()
        self.release_pages()
        return found

    def held(self, queries: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per query, how many of its seeds some reference holds, and how many seeds it has: no reference can
        share more than the first with it (what tells, before any list is read, that a strand cannot win)."""
        counted = [(int((self.indptr[c + 1] > self.indptr[c]).sum()), len(c)) for c in _query_seeds(queries)]
        return tuple(np.array(counted, dtype=np.int64).reshape(-1, 2).T)

    def _budgeted(self, codes: np.ndarray, candidates: int, budget: int) -> tuple[np.ndarray, np.ndarray]:
        """The shortlist of one query's seeds `codes`, read rarest first up to `budget` entries (all of them
        within it: every shared seed counted)."""
        from bioscan_hf.search import _seed_kernels  # here: numba takes a fraction of a second to import

        kept, entries = _seed_kernels.rarest_first(self.indptr, codes, budget)
        if not len(kept):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        seeds = codes[kept]
        if entries * 8 < self.size:  # few entries: hash them (~3× np.unique's sort)
            read = np.concatenate([self.postings[self.indptr[c] : self.indptr[c + 1]] for c in seeds.tolist()])
            tally = pd.Series(read, copy=False).value_counts(sort=False)
            slots, counts = tally.index.to_numpy(), tally.to_numpy()
            if self.hidden is not None:
                shown = ~self.hidden[slots]
                slots, counts = slots[shown], counts[shown]
        else:  # a count per slot; no reference holds a seed twice, so counts stay under the seeds read
            counts = np.zeros(self.size, dtype=np.uint16 if len(kept) < 2**16 else np.uint32)
            common = self.complements  # (every barcode holds these but those lacking them)
            flipped = _seed_kernels.tally_seeds(
                self.postings, self.indptr, seeds, common.codes, common.starts, common.ends, common.lacking, counts
            )
            if flipped:
                counts += counts.dtype.type(flipped)
            if self.hidden is not None:
                counts[self.hidden] = 0
            slots, counts = _seed_kernels.above_cut(counts, len(kept), candidates)
        return _top(self.order[slots], counts, candidates)


class SharedSeeds(NamedTuple):
    """The seeds a query's shortlisted references share with it (`counts`, in shortlist order), and `most`:
    a count no reference exceeds (the top one's; at most the number of query seeds counted)."""

    counts: np.ndarray
    most: int

    def may_be_within(
        self, n: int | np.ndarray, edits: int | np.ndarray, longer_by: int | np.ndarray
    ) -> bool | np.ndarray:
        """Whether the `n`-th reference holds enough of the query's seeds to be within `edits` edits of it
        (the q-gram lemma, exact: never False for one that is; what it may lack: `seeds_lost`). `n`, `edits`
        and `longer_by` may be arrays (one answer per reference)."""
        return self.counts[n] >= self.most - seeds_lost(edits, longer_by)


def seeds_lost(edits: int | np.ndarray, longer_by: int | np.ndarray) -> int | np.ndarray:
    """The most of a query's seeds that a reference within `edits` edits of it can lack, the query being
    `longer_by` bases longer (the q-gram lemma: aligned with `edits` edits, the query's windows no edit
    touches are in the reference verbatim; an edit touches at most `len(SEED_PATTERN)` windows and shortens
    the span covered by one base; windows beyond a shorter reference are lost too)."""
    return LOST_PER_EDIT * edits + np.maximum(0, longer_by)


def _map_array(path: Path) -> tuple[np.ndarray, mmap.mmap]:
    """A .npy file's array over a read-only memory map of the file, and the map (for `madvise`)."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(handle)
        offset = handle.tell()
        if fortran or len(shape) != 1:
            raise InputError(f"{path}: not a one-dimensional array (rebuild the seed index)")
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    return np.frombuffer(mapping, dtype=dtype, count=shape[0], offset=offset), mapping


def _query_seeds(queries: Sequence[str]):
    """The seed codes of each query, seeded `_SEED_BATCH` at a time."""
    for start in range(0, len(queries), _SEED_BATCH):
        batch = queries[start : start + _SEED_BATCH]
        rows, codes = _batch_seeds(batch)
        bounds = np.searchsorted(rows, np.arange(len(batch) + 1))
        for i in range(len(batch)):
            yield codes[bounds[i] : bounds[i + 1]]


def _top(positions: np.ndarray, counts: np.ndarray, candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to `candidates` positions by count, highest first, and their counts; at the cut and among equals,
    lower positions. One key orders both (count above, position below: every key distinct), so one
    partition and one small sort do it (partitioning the counts alone, mostly ties, was ~5× slower)."""
    if not len(counts):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    most = int(counts.max())
    keys = (most - counts.astype(np.int64)) << _POSITION_BITS | positions.astype(np.int64)
    if len(keys) > candidates:
        keys = np.partition(keys, candidates - 1)[:candidates]
    keys.sort()
    return keys & (1 << _POSITION_BITS) - 1, most - (keys >> _POSITION_BITS)


def slot_order(barcodes: Sequence[str]) -> np.ndarray:
    """Each slot's barcode position (int32): the barcodes ordered by their seeds' min-hash (then position).
    Barcodes sharing most of their seeds mostly share it and take neighbouring slots, so a query's counts of
    them land in a few cache lines: at BIOSCAN-5M's size a query's tally took half the time of the positions'
    own order, where records come in no order (BENCHMARKS.md)."""
    from bioscan_hf.search import _seed_kernels  # here: numba takes a fraction of a second to import

    least = np.empty(len(barcodes), dtype=np.uint64)
    for start, lengths, bases in seed_batches(barcodes):
        _seed_kernels.min_hashes(bases, lengths, *SEED_WINDOW, least[start : start + len(lengths)])
    return np.argsort(least, kind="stable").astype(np.int32)


def _seeded_batches(barcodes: Sequence[str], progress: bool, desc: str):
    """(first position, (row, seed) arrays) of each `_SEED_BATCH` barcodes, with a progress bar."""
    bar = progress_bar(total=len(barcodes), desc=desc, unit="barcode", disable=not progress)
    for start in range(0, len(barcodes), _SEED_BATCH):
        batch = barcodes[start : start + _SEED_BATCH]
        yield start, _index_seeds(batch)
        bar.update(len(batch))
    bar.close()


def seed_index(barcodes: Sequence[str], progress: bool = False) -> SeedIndex:
    """The seed index of `barcodes`: in memory for a library under `ON_DISK_ABOVE` distinct barcodes (read
    back from the cache folder from `CACHED_FROM`); for a larger one, built once into the cache folder
    (`$BIOSCAN_HF_CACHE/seeds/<digest of the barcodes>-v<format>`) and memory-mapped from there by every later run on
    the same library."""
    in_memory = len(barcodes) < ON_DISK_ABOVE
    if in_memory and len(barcodes) < CACHED_FROM:
        return SeedIndex.build(barcodes, progress)
    folder = cache_dir() / "seeds" / f"{barcodes_digest(barcodes)}-v{SEEDS_VERSION}"
    if not (folder / SEEDS_MANIFEST).is_file():
        staging = folder.with_name(f"{folder.name}.{os.getpid()}.partial")
        if progress:
            print(f"building the seed index of {len(barcodes):,} barcodes once, into {folder}", file=sys.stderr)
        try:
            if in_memory:
                built = SeedIndex.build(barcodes, progress)
                built.save(staging)
            else:
                SeedIndex.build(barcodes, progress, folder=staging)
            if not folder.exists():  # another run may have finished the same index meanwhile
                staging.rename(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if in_memory:
            return built
    return SeedIndex.open(folder, in_memory)


def barcodes_digest(barcodes: Sequence[str]) -> str:
    """A digest of a list of barcodes (order included), read 10,000 at a time."""
    digest = hashlib.sha256()
    for start in range(0, len(barcodes), 10_000):
        digest.update("\n".join(barcodes[start : start + 10_000]).encode() + b"\n")
    return digest.hexdigest()[:20]


def projected_bytes(distinct_barcodes: int, seeds_per_barcode: float = 606.0) -> int:
    """Memory of a `SeedIndex` over this many distinct barcodes (606 seeds per barcode on the BOLD file)."""
    return int(math.ceil(distinct_barcodes * seeds_per_barcode * 4 + (N_SEEDS + 1) * 8))
