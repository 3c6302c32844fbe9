"""From a query to its hits (`search.shortlist`): where the seed index is read within a budget, a query near
the library is searched from its rarest seeds' lists alone only where the q-gram lemma proves that complete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import flood_case, mutate

from bioscan_hf.core.barcodes import reverse_complement
from bioscan_hf.data.sources import Problems, Query
from bioscan_hf.search import shortlist
from bioscan_hf.search.align import NEAR_BEST, best_strand_alignment
from bioscan_hf.search.engine import Identifier
from bioscan_hf.search.references import Reference, read_references


def test_a_staged_read_finds_every_reference_near_the_exhaustive_best(
    bold_tsv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real barcodes with 0–2% of their bases changed, some reverse complemented, and random DNA, searched
    within a budget whose first stage reads only part of each query's lists: every query the stage answers
    has as its best hit the best score of aligning every reference on both strands, and among its hits every
    reference within `NEAR_BEST` of it, at its aligned score; the others (the minus strand's, random DNA)
    are searched within the whole budget, as before."""
    table = read_references(bold_tsv, None, Problems(skip=True)).drop_duplicates("dna_barcode").iloc[:2000]
    reference = Reference(table.reset_index(drop=True))
    monkeypatch.setattr(shortlist, "STAGE_ENTRIES", 20_000)
    answered: dict[str, list | None] = {}
    stage = shortlist._staged_hits
    monkeypatch.setattr(shortlist, "_staged_hits", lambda q, *rest: answered.setdefault(q, stage(q, *rest)))
    rng = np.random.default_rng(5)
    queries = []
    for n, key in enumerate(rng.choice(len(reference.barcodes), 30, replace=False)):
        sequence = mutate(reference.barcodes[key], (n % 5) * 0.005, rng)
        queries.append(Query(f"q{n}", sequence=reverse_complement(sequence) if n % 6 == 5 else sequence))
    queries += [Query(f"r{n}", sequence="".join(rng.choice(list("ACGT"), 600))) for n in range(3)]
    found = Identifier(reference, seed_budget=10**9).hits(queries)
    staged = [q for q in queries if answered.get(q.sequence) is not None]
    assert len(staged) >= 15 and all(answered[q.sequence] is None for q in queries if q.id.startswith("r"))
    assert not any(q.id in {f"q{n}" for n in range(5, 30, 6)} for q in staged)  # minus strand: searched
    for query in staged:
        scores = [best_strand_alignment(query.sequence, barcode).score for barcode in reference.barcodes]
        best = max(scores)
        hits = {hit.key: hit.score for hit in found[query.sequence]}
        assert found[query.sequence][0].score == best
        assert all(hits.get(k) == s for k, s in enumerate(scores) if s >= best - NEAR_BEST)


def test_a_query_far_from_its_shortlist_has_more_references_aligned(monkeypatch) -> None:
    """A flood spread over many genera and species (so no contrast rank adds the lone best hit) ahead of it in
    seed order, beyond the shortlist: a query whose best shortlisted hit is below `WIDEN_BELOW` has the
    references after its shortlist aligned too, a few per species, and the lone best hit is found; without
    the widening it is not."""
    table, query, best = flood_case(0)
    flood = table["processid"].str.startswith("FLOOD")
    number = table.loc[flood, "processid"].str[5:].astype(int)
    table.loc[flood, "genus"] = "Floodus" + (number % 8).astype(str)
    table.loc[flood, "species"] = table.loc[flood, "genus"] + " sp" + (number % 40).astype(str)
    reference = Reference(table)
    monkeypatch.setattr(shortlist, "WIDEN_BELOW", 0.95)  # the flood's 94% is "far" for this case
    identifier = Identifier(reference, candidates=20)
    assert identifier.identify([Query("q", sequence=query)], top_k=1)[1][0]["sseqid"] == best
    monkeypatch.setattr(shortlist, "WIDE_CANDIDATES", 0)
    assert identifier.identify([Query("q", sequence=query)], top_k=1)[1][0]["sseqid"] != best
