"""The neighbour graph (`search.graph`): every barcode against all, with a bounded read per barcode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from bioscan_hf.data.sources import Query
from bioscan_hf.search.calls import Hit
from bioscan_hf.search.engine import Identifier
from bioscan_hf.search.graph import (
    KEEP,
    MANIFEST,
    NeighbourGraph,
    build_graph,
    kept,
    neighbour_graph,
    search_barcodes,
)
from bioscan_hf.search.references import Reference
from bioscan_hf.search.seeds import _query_seeds
from bioscan_hf.search.shortlist import CONTRAST_RANKS
from tests.helpers import flood_case, library


def test_the_graph_holds_the_engines_hits_for_every_barcode(tmp_path: Path, monkeypatch) -> None:
    """With a budget that reads every seed, each barcode's graph hits are exactly the exhaustive engine's
    (kept: the best `KEEP` and each rank's best hit of another label); a tight budget keeps the best hit."""
    reference = Reference(library(np.random.default_rng(3)))
    codes = {rank: reference.key_codes(rank) for rank in CONTRAST_RANKS}
    exhaustive = Identifier(reference).hits([Query(str(k), sequence=b) for k, b in enumerate(reference.barcodes)])
    graph = build_graph(reference, tmp_path / "wide", seed_budget=10**9, progress=False)
    assert len(graph) == len(reference.barcodes)
    for key, barcode in enumerate(reference.barcodes):
        assert graph[key] == _kept_hits(exhaustive[barcode], codes)
        assert graph[key][0].key == key and graph[key][0].identity == 1.0  # itself first
    monkeypatch.setattr("bioscan_hf.search.graph.TASK_KEYS", 7)  # several tasks per worker process ...
    monkeypatch.setattr("bioscan_hf.search.graph.PART_KEYS", 25)  # ... and several parts per pool
    shared = build_graph(reference, tmp_path / "two", seed_budget=10**9, num_proc=2, progress=False)
    assert all(shared[key] == graph[key] for key in range(len(graph)))  # worker processes: the same graph
    some = search_barcodes(reference, range(1, len(graph), 3), seed_budget=10**9, num_proc=2, progress=False)
    assert all(some[key] == (graph[key] if key % 3 == 1 else []) for key in range(len(graph)))  # those alone
    tight = build_graph(reference, tmp_path / "tight", seed_budget=2_000, progress=False)
    for key, barcode in enumerate(reference.barcodes):
        others = [h for h in exhaustive[barcode] if h.key != key]
        found = [h for h in tight[key] if h.key != key]
        assert found[0].score == others[0].score  # the best other barcode, within the budget


def test_kept_hits_keep_a_neighbour_of_another_label() -> None:
    """A flood of one genus ahead of the lone hit of another: the cut at `KEEP` keeps that hit, so the
    evidence's gap is measured against a real neighbour."""
    table, _, _ = flood_case(flood=KEEP + 30)
    reference = Reference(table)
    codes = {rank: reference.key_codes(rank) for rank in CONTRAST_RANKS}
    flood_key = next(k for k in range(len(reference.barcodes)) if reference.key_label(k, "genus") == "Floodus")
    hits = Identifier(reference, candidates=200).hits([Query("q", sequence=reference.barcodes[flood_key])])
    ranked = hits[reference.barcodes[flood_key]]
    assert len(ranked) > KEEP and all(reference.key_label(h.key, "genus") == "Floodus" for h in ranked[:KEEP])
    cut = _kept_hits(ranked, codes)
    assert cut[:KEEP] == ranked[:KEEP]
    assert any(reference.key_label(h.key, "genus") != "Floodus" for h in cut[KEEP:])


def _kept_hits(hits: list[Hit], codes: dict[str, np.ndarray]) -> list[Hit]:
    """The hits `kept` keeps of a list."""
    return [hits[i] for i in kept(np.array([h.key for h in hits], dtype=np.int64), codes)]


def test_a_budgeted_shortlist_reads_a_bounded_share_of_the_index() -> None:
    """The entries read per barcode (the sum of its candidates' shared-seed counts, every candidate kept)
    stay within the budget however common its seeds, where the exhaustive product reads every posting of
    every seed: what makes all against all linear in the library."""
    reference = Reference(library(np.random.default_rng(4)))
    index, size, budget = reference.seeds, len(reference.barcodes), 300
    exhaustive = index.ranked(reference.barcodes, size)
    budgeted = index.ranked(reference.barcodes, size, budget=budget)
    for codes, (_, every), (positions, counts) in zip(_query_seeds(reference.barcodes), exhaustive, budgeted):
        lengths = index.indptr[codes + 1] - index.indptr[codes]
        assert every.sum() == lengths.sum() > budget  # the product reads every list in full
        assert counts.sum() <= max(budget, lengths[lengths > 0].min())  # the budget reads the rarest only
        assert len(positions)


def test_an_interrupted_graph_resumes_at_its_next_part(tmp_path: Path, monkeypatch) -> None:
    """Parts land whole; a build stopped after its first part keeps it and computes only the rest; the
    cached graph is found again by the library's digest."""
    from bioscan_hf.search import graph as graph_module

    monkeypatch.setattr(graph_module, "PART_KEYS", 10)
    reference = Reference(library(np.random.default_rng(5)))
    folder = tmp_path / "g"
    whole = build_graph(reference, folder, progress=False)
    parts = sorted(folder.glob("part-*.parquet"))
    assert len(parts) == -(-len(reference.barcodes) // 10) and (folder / MANIFEST).is_file()
    first = pq.read_table(parts[0])
    (folder / MANIFEST).unlink()
    for part in parts[1:]:
        part.unlink()
    stamp = parts[0].stat().st_mtime_ns
    again = build_graph(reference, folder, progress=False)
    assert parts[0].stat().st_mtime_ns == stamp and pq.read_table(parts[0]).equals(first)
    assert all(again[k] == whole[k] for k in range(len(reference.barcodes)))
    assert not list(folder.glob("*.partial"))
    cached = neighbour_graph(reference, progress=False)  # the library's graph in the cache folder
    assert all(cached[k] == whole[k] for k in range(len(reference.barcodes)))


def test_a_budgeted_search_reads_either_strand(bold_tsv: Path) -> None:
    """Within a budget, the strand is chosen by aligning each strand's best reference: budgeted counts do not
    compare across strands (on real, AT-rich barcodes the minus strand reads every list it shares, the plus
    strand only its rarest, and counting chose the minus strand for barcodes of the library itself). Each
    real barcode finds itself (or a longer barcode holding it) on the plus strand, its reverse complement on
    the minus strand."""
    from bioscan_hf.core.barcodes import reverse_complement
    from bioscan_hf.data.sources import Problems
    from bioscan_hf.search.references import read_references

    table = read_references(bold_tsv, None, Problems(skip=True)).drop_duplicates("dna_barcode").iloc[:4000]
    reference = Reference(table.reset_index(drop=True))
    engine = Identifier(reference, seed_budget=2_000)
    keys = range(0, len(reference.barcodes), 40)
    for strand, turn in (("+", lambda b: b), ("-", reverse_complement)):
        queries = [Query(str(k), sequence=turn(reference.barcodes[k])) for k in keys]
        found = engine.hits(queries)
        for key, query in zip(keys, queries):
            hits = found[query.sequence]
            assert (hits[0].strand, hits[0].identity) == (strand, 1.0)  # itself, or a barcode holding it
            assert any(hit.key == key and hit.identity == 1.0 for hit in hits)


def test_a_graph_built_without_labels_is_not_read_for_a_labelled_library() -> None:
    """The kept hits depend on which barcodes share a label (a flood's barcodes keep a neighbour of another
    genus only when genera are known), so the cache tells a FASTA's graph from a labelled library's graph of
    the same barcodes; labels renamed, partition the same, share one graph."""
    table, _, _ = flood_case(flood=KEEP + 30)
    labelled = Reference(table)
    unlabelled = Reference(table.assign(**{rank: None for rank in CONTRAST_RANKS}))
    renamed = Reference(table.assign(genus=table["genus"].map(lambda g: None if g is None else f"x{g}")))
    flood_key = next(k for k in range(len(labelled.barcodes)) if labelled.key_label(k, "genus") == "Floodus")
    bare = neighbour_graph(unlabelled, progress=False)  # built first, as `cluster` of a FASTA would
    full = neighbour_graph(labelled, progress=False)
    assert len(bare[flood_key]) == KEEP  # no label: nothing kept beyond the best
    assert any(labelled.key_label(h.key, "genus") != "Floodus" for h in full[flood_key])
    assert neighbour_graph(renamed, progress=False)[flood_key] == full[flood_key]


class _Process:
    """One process of an `accelerate launch` as the graph's build reads it (waits are the test's order)."""

    def __init__(self, index: int, of: int) -> None:
        self.process_index, self.num_processes, self.is_main_process = index, of, index == 0

    def wait_for_everyone(self) -> None:
        """The test runs the processes one after the other."""


def test_processes_share_the_graphs_parts_and_the_main_one_finishes_it(tmp_path: Path, monkeypatch) -> None:
    """Under `accelerate launch` each process searches every n-th part of the graph into the one folder, and
    the main one writes the manifest once all are there: the graph of one process, part for part."""
    from bioscan_hf.search.graph import GRAPH_SEED_BUDGET, _build_parts
    from bioscan_hf.search.settings import DEFAULT_CANDIDATES

    monkeypatch.setattr("bioscan_hf.search.graph.PART_KEYS", 20)
    reference = Reference(library(np.random.default_rng(4)))
    one = build_graph(reference, tmp_path / "one", progress=False)
    shared = tmp_path / "shared"
    _build_parts(reference, shared, DEFAULT_CANDIDATES, 1, GRAPH_SEED_BUDGET, False, _Process(1, 2))
    parts = sorted(p.name for p in shared.glob("part-*.parquet"))
    assert parts == [f"part-{n:06d}.parquet" for n in range(1, -(-len(reference.barcodes) // 20), 2)]
    assert not (shared / MANIFEST).exists()  # the second process leaves the graph to the main one
    _build_parts(reference, shared, DEFAULT_CANDIDATES, 1, GRAPH_SEED_BUDGET, False, _Process(0, 2))
    graph = NeighbourGraph.open(shared)
    assert (shared / MANIFEST).read_text() == (tmp_path / "one" / MANIFEST).read_text()
    assert all(graph[key] == one[key] for key in range(len(one)))
