"""The neighbour graph: every distinct barcode of a library searched against all the others, once.

Each distinct barcode's hits (the identify engine's: seed shortlist, exact alignment, contrast hits) are
what `audit` judges its records by, and what anything needing a barcode's neighbours reads. Counting every
shared seed of every barcode (as identify does on a small library) costs each barcode time
in proportion to the library: all against all is quadratic (~0.32 s × (distinct/1000)², 20 days at
BIOSCAN-5M's ~2.3M). Here each barcode's shortlist reads at most `GRAPH_SEED_BUDGET` posting entries, its
rarest seeds first (the seeds it shares with its closest relatives; the commonest, held by a large part of
the library, tell little apart), so each barcode costs a bounded time and the whole graph grows linearly
with the library (BENCHMARKS.md: recall of each barcode's best other hit against the exhaustive search, and
time, at growing sizes).

Kept per barcode: its best `KEEP` hits, and for each rank of `shortlist.CONTRAST_RANKS` its best hit of a label
other than its best hit's (what an audit's evidence measures the gap to). Written into a folder, in parts of
`PART_KEYS` barcodes, each part complete before it lands, so an interrupted build resumes at the next part;
the folder is found again by the library's digest, which of its barcodes share a label at each contrast rank
(the kept hits depend on it) and the settings (`$BIOSCAN_HF_CACHE/graphs/...`). Under `accelerate launch`
(`audit` and `cluster` of a whole library) the processes share the parts, each searching every n-th into the
one folder (on one machine, or a file system the machines share), and the main one finishes the graph.

`cluster` needs no rows for a barcode another contains exactly (a shorter read of the same sequence,
`search.contained`: 46% of the real BOLD file's distinct barcodes): it builds a graph of the others' rows
(`skip_contained`), or takes those rows from a whole graph already built.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bioscan_hf.core.console import progress_bar, status
from bioscan_hf.core.paths import cache_dir
from bioscan_hf.core.processes import OneProcess, process_state
from bioscan_hf.search.calls import Hit
from bioscan_hf.search.engine import Identifier, RankedHits
from bioscan_hf.search.references import Reference
from bioscan_hf.search.seeds import barcodes_digest
from bioscan_hf.search.settings import DEFAULT_CANDIDATES
from bioscan_hf.search.shortlist import CONTRAST_RANKS

#: Posting entries a barcode's shortlist reads at most (rarest seeds first): ~0.5 ms per barcode.
GRAPH_SEED_BUDGET = 50_000
#: Best hits kept per barcode (besides each rank's best hit of another label).
KEEP = 50
#: Barcodes per part of the graph's folder (a unit of resuming and of the progress bar).
PART_KEYS = 20_000
GRAPH_VERSION = 1
MANIFEST = "graph.json"
#: Distinct barcodes per task of a worker process (small: no process waits long on another).
TASK_KEYS = 250
_SCHEMA = pa.schema(
    [("key", pa.int32()), ("hit", pa.int32()), ("identity", pa.float64()), ("score", pa.float64()),
     ("coverage", pa.float64()), ("minus", pa.bool_())]
)  # fmt: skip
#: What the graph's worker processes search with (the reference, an engine, its label codes), set before
#: they are forked: they inherit it.
_WORK: tuple | None = None


class NeighbourGraph:
    """Each distinct barcode's hits in its library, best first, as flat arrays (a `Hit` list on request)."""

    def __init__(self, table: pa.Table, size: int) -> None:
        keys = table.column("key").to_numpy()
        order = np.argsort(keys, kind="stable")  # parts are in key order; hits keep their order within a key
        self._hit = table.column("hit").to_numpy()[order]
        self._identity = table.column("identity").to_numpy()[order]
        self._score = table.column("score").to_numpy()[order]
        self._coverage = table.column("coverage").to_numpy()[order]
        self._minus = table.column("minus").to_numpy()[order]
        self._starts = np.searchsorted(keys[order], np.arange(size + 1))

    def __getitem__(self, key: int) -> list[Hit]:
        """The hits of distinct barcode `key` (itself among them), best first."""
        lo, hi = self._starts[key], self._starts[key + 1]
        return [
            Hit(int(h), float(i), float(s), float(c), "-" if m else "+")
            for h, i, s, c, m in zip(
                self._hit[lo:hi], self._identity[lo:hi], self._score[lo:hi], self._coverage[lo:hi], self._minus[lo:hi]
            )
        ]

    def __len__(self) -> int:
        return len(self._starts) - 1

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (barcode, hit, identity) the graph holds, as three arrays (clusters link them; positions
        as the graph stores them, 32-bit)."""
        keys = np.repeat(np.arange(len(self), dtype=self._hit.dtype), np.diff(self._starts))
        return keys, self._hit, self._identity

    @classmethod
    def open(cls, folder: str | os.PathLike, without: np.ndarray | None = None) -> NeighbourGraph:
        """A graph `build_graph` finished in `folder`; `without`: a mask of the barcodes whose rows are left out
        (they stay hits of the others)."""
        folder = Path(folder)
        manifest = json.loads((folder / MANIFEST).read_text())
        parts = []
        for path in sorted(folder.glob("part-*.parquet")):
            part = pq.read_table(path)
            if without is not None and without.any():  # as each part is read: at full size the rows are GBs
                part = part.filter(pa.array(~without[part.column("key").to_numpy()]))
            parts.append(part)
        return cls(pa.concat_tables(parts), manifest["barcodes"])


def kept(keys: np.ndarray, codes: dict[str, np.ndarray]) -> np.ndarray:
    """Of one barcode's hits (their `keys`, best first), the indices of those kept: the best `KEEP`, and at each
    rank (`codes`: a label code per barcode, −1 unlabelled) where those hold no other label than the best hit's,
    the best hit of another label."""
    if len(keys) <= KEEP:
        return np.arange(len(keys))
    keep = list(range(KEEP))
    taken = np.zeros(len(keys), dtype=bool)
    taken[:KEEP] = True
    for code in codes.values():
        labels = code[keys]
        label = labels[0]
        if label < 0 or ((labels[:KEEP] != label) & (labels[:KEEP] >= 0)).any():
            continue
        other = np.flatnonzero((labels != label) & (labels >= 0) & ~taken)
        if len(other):
            keep.append(int(other[0]))
            taken[other[0]] = True
    return np.array(keep, dtype=np.int64)


def labels_digest(codes: dict[str, np.ndarray]) -> str:
    """A digest of which barcodes share a label at each rank (codes per barcode, −1: unlabelled), whatever the
    labels are called: what `kept` reads, so a graph built without labels (a FASTA clustered) is not taken for
    one with them (an audit of the same barcodes)."""
    digest = hashlib.sha256()
    for rank in sorted(codes):
        canonical = pd.factorize(codes[rank])[0]  # codes in order of first use
        digest.update(rank.encode() + np.where(codes[rank] < 0, -1, canonical).astype(np.int64).tobytes())
    return digest.hexdigest()[:12]


def _part_table(keys: Sequence[int], ranked: RankedHits, codes: dict[str, np.ndarray]) -> pa.Table:
    """The rows of barcodes `keys`' kept hits (`ranked`: their hits, in `keys`' order)."""
    rows = [
        start + kept(ranked.keys[start:end], codes)
        for start, end in zip(ranked.starts[:-1].tolist(), ranked.starts[1:].tolist())
    ]
    taken = np.concatenate([np.zeros(0, dtype=np.int64), *rows])
    columns = {
        "key": np.repeat(np.asarray(keys, dtype=np.int32), [len(r) for r in rows]),
        "hit": ranked.keys[taken].astype(np.int32),
        "identity": ranked.identities[taken],  # as computed: votes compare them exactly
        "score": ranked.scores[taken].astype(np.float64),
        "coverage": ranked.coverage[taken],
        "minus": ranked.minus[taken],
    }
    return pa.table(columns, schema=_SCHEMA)


def _searched_part(keys: list[int]) -> pa.Table:
    """The kept hits of distinct barcodes `keys` as rows of a part: one task of a worker process, which
    searches alone with what `_searching` set before forking it (`_WORK`)."""
    reference, engine, codes = _WORK
    return _part_table(keys, engine.ranked_hits([reference.barcodes[k] for k in keys]), codes)


@contextmanager
def _searching(reference: Reference, candidates: int, num_proc: int, seed_budget: int):
    """A function giving the rows of some barcodes' kept hits (a list of tables), for the duration of the
    `with`: one engine and, with `num_proc`, one pool of worker processes serve every call (a graph's
    parts). Workers take `TASK_KEYS` barcodes at a time and return their rows: the search, the kept hits and
    the rows are all theirs, and this process only gathers them (when it sorted and kept every hit itself,
    the workers waited on it: BENCHMARKS.md)."""
    global _WORK
    engine = Identifier(reference, candidates=candidates, seed_budget=seed_budget)  # one per worker process
    reference.seeds, reference.encoded  # noqa: B018  (built before the workers fork: they share them)
    _WORK = (reference, engine, {rank: reference.key_codes(rank) for rank in CONTRAST_RANKS})
    pool = multiprocessing.get_context("fork").Pool(num_proc) if num_proc > 1 else None

    def searched(keys: list[int], bar) -> list[pa.Table]:
        tasks = [keys[at : at + TASK_KEYS] for at in range(0, len(keys), TASK_KEYS)]
        tables = []
        for task, table in zip(tasks, (pool.imap if pool else map)(_searched_part, tasks)):
            tables.append(table)
            bar.update(len(task))
        return tables

    try:
        yield searched
    finally:
        if pool is not None:
            pool.terminate()
        _WORK = None


def search_barcodes(
    reference: Reference,
    keys: Sequence[int],
    candidates: int = DEFAULT_CANDIDATES,
    num_proc: int = 1,
    seed_budget: int = GRAPH_SEED_BUDGET,
    progress: bool = True,
) -> NeighbourGraph:
    """The hits of distinct barcodes `keys` alone, searched and kept as `build_graph` does every barcode's, in
    memory (an audit of some of a library's records; a sample of a graph too large to build here)."""
    keys = sorted(set(keys))
    bar = progress_bar(total=len(keys), desc="comparing barcodes", unit="barcode", disable=not progress)
    try:
        with _searching(reference, candidates, num_proc, seed_budget) as searched:
            tables = searched(keys, bar)
    finally:
        bar.close()
    return NeighbourGraph(pa.concat_tables([_SCHEMA.empty_table(), *tables]), len(reference.barcodes))


def build_graph(
    reference: Reference,
    folder: str | os.PathLike,
    candidates: int = DEFAULT_CANDIDATES,
    num_proc: int = 1,
    seed_budget: int = GRAPH_SEED_BUDGET,
    progress: bool = True,
) -> NeighbourGraph:
    """Search every distinct barcode of `reference` against all of them (its own included) into `folder`;
    parts already there (an interrupted build of the same library and settings) are kept."""
    _build_parts(reference, Path(folder), candidates, num_proc, seed_budget, progress, OneProcess())
    return NeighbourGraph.open(folder)


def _build_parts(
    reference: Reference,
    folder: Path,
    candidates: int,
    num_proc: int,
    seed_budget: int,
    progress: bool,
    state: Any,
    skip_contained: bool = False,
) -> None:
    """`build_graph` without opening the graph. Under `accelerate launch` (`state`: `core.processes`' state of
    this process) each process searches every n-th part missing from the folder, which all of them can write
    (one machine, or a shared file system); the main process writes the manifest once every part is there.
    With `skip_contained`, barcodes another contains (`Reference.containers`) get no rows."""
    folder.mkdir(parents=True, exist_ok=True)
    size = len(reference.barcodes)
    searched_key = reference.containers < 0 if skip_contained else np.ones(size, dtype=bool)
    missing: dict[Path, list[int]] = {}  # parts not there yet (an interrupted build left the others), this process's
    for number, start in enumerate(range(0, size, PART_KEYS)):
        part = folder / f"part-{number:06d}.parquet"
        if not part.is_file() and number % state.num_processes == state.process_index:
            missing[part] = (start + np.flatnonzero(searched_key[start : start + PART_KEYS])).tolist()
    work = sum(map(len, missing.values()))
    bar = progress_bar(total=work, desc="searching every barcode against all", unit="barcode", disable=not progress)
    try:
        if missing:
            with _searching(reference, candidates, num_proc, seed_budget) as searched:
                for part, keys in missing.items():
                    tables = searched(keys, bar)
                    staging = part.with_suffix(".partial")
                    pq.write_table(pa.concat_tables([_SCHEMA.empty_table(), *tables]), staging)
                    staging.replace(part)  # a part is there whole or not at all
    finally:
        bar.close()
    state.wait_for_everyone()
    if state.is_main_process:
        settings = {
            "candidates": candidates,
            "seed_budget": seed_budget,
            "keep": KEEP,
            "skip_contained": skip_contained,
        }
        (folder / MANIFEST).write_text(json.dumps({"barcodes": size, "version": GRAPH_VERSION, **settings}))
    state.wait_for_everyone()


def neighbour_graph(
    reference: Reference,
    candidates: int = DEFAULT_CANDIDATES,
    num_proc: int = 1,
    seed_budget: int = GRAPH_SEED_BUDGET,
    progress: bool = True,
    skip_contained: bool = False,
) -> NeighbourGraph:
    """The neighbour graph of `reference`'s distinct barcodes: built once into the cache folder
    (`$BIOSCAN_HF_CACHE/graphs/<digests of the barcodes and of their labels' partition>-<settings>`) and
    read from there by every later run on the same library. With `skip_contained`, only barcodes no other
    contains have rows (the others are still hits of theirs): `cluster` folds those into their containers."""
    folder = graph_built(reference, candidates, num_proc, seed_budget, progress, skip_contained)
    return NeighbourGraph.open(folder, reference.containers >= 0 if skip_contained else None)


def graph_built(
    reference: Reference,
    candidates: int = DEFAULT_CANDIDATES,
    num_proc: int = 1,
    seed_budget: int = GRAPH_SEED_BUDGET,
    progress: bool = True,
    skip_contained: bool = False,
) -> Path:
    """The cache folder of `reference`'s neighbour graph (`neighbour_graph`), built first where it is not
    there. Under `accelerate launch` every process must call it: they share the parts, and all return once
    the graph is whole. With `skip_contained` the graph with rows for every barcode is taken where it is
    there (an audit's: the rows of the others are the same searches), and so is a library where no barcode
    contains another; else one with rows for the barcodes no other contains is built, in its own folder."""
    state = process_state()
    digest = barcodes_digest(reference.barcodes)
    labels = labels_digest({rank: reference.key_codes(rank) for rank in CONTRAST_RANKS})
    settings = f"{digest}-l{labels}-c{candidates}-b{seed_budget}-k{KEEP}"
    name = f"{settings}-v{GRAPH_VERSION}"
    folder = cache_dir() / "graphs" / name
    if (folder / MANIFEST).is_file():
        return folder
    with state.main_process_first():  # the seed index is built once, into the cache, and read by the others
        reference.seeds  # noqa: B018
    skip_contained = skip_contained and bool((reference.containers >= 0).any())
    if skip_contained:
        name = f"{settings}-x-v{GRAPH_VERSION}"
        folder = folder.with_name(name)
        if (folder / MANIFEST).is_file():
            return folder
    if progress and state.is_main_process:
        size, within = len(reference.barcodes), int((reference.containers >= 0).sum()) if skip_contained else 0
        which = (
            f"{size - within:,} of {size:,} distinct barcodes (the others lie within them)"
            if within
            else f"{size:,} distinct barcodes"
        )
        status(f"searching {which} against all once, into {folder}")
    building = folder.with_name(f"{name}.building")  # parts survive an interruption; the next run resumes
    _build_parts(reference, building, candidates, num_proc, seed_budget, progress, state, skip_contained)
    if state.is_main_process:
        if not folder.exists():
            building.rename(folder)
        else:  # another run finished the same graph meanwhile
            shutil.rmtree(building, ignore_errors=True)
    state.wait_for_everyone()
    return folder
