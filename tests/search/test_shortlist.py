"""From a query to its hits (`search.shortlist`): a query far from everything has more references aligned; what the
worker processes return unpacks as it was packed."""

from __future__ import annotations

import numpy as np
from helpers import flood_case

from bioscan_hf.data.sources import Query
from bioscan_hf.search import engine, shortlist
from bioscan_hf.search.align import AlignedHits, Alignment
from bioscan_hf.search.engine import Identifier
from bioscan_hf.search.references import Reference


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


def test_an_unlabelled_library_ranks_deep_only_the_queries_it_widens(monkeypatch) -> None:
    """A library without labels (a FASTA clustered) ranks each query's references no deeper than its shortlist,
    and again deep where the query is widened: the hits equal those of the deep ranking every labelled library
    does, and the widened query still finds its lone best hit beyond the flood."""
    table, query, best = flood_case(0)
    table[list(shortlist.CONTRAST_RANKS)] = None
    reference = Reference(table)
    monkeypatch.setattr(shortlist, "WIDEN_BELOW", 0.95)  # the flood's 94% is "far" for this case
    identifier = Identifier(reference, candidates=20)
    plain = identifier.ranked_hits([query])
    assert not shortlist._WORKER_LABELLED
    set_state = engine.set_worker_state

    def ranked_deep(*args) -> None:  # as if the library were labelled
        set_state(*args)
        monkeypatch.setattr(shortlist, "_WORKER_LABELLED", True)

    monkeypatch.setattr(engine, "set_worker_state", ranked_deep)
    deep = identifier.ranked_hits([query])
    assert all(np.array_equal(a, b) for a, b in zip(plain, deep))
    lone = int(np.flatnonzero(table["processid"] == best)[0])
    assert plain.keys[0] == reference.key_of_record[lone]


def test_packed_hits_join_and_unpack_as_they_were_packed() -> None:
    """What worker processes return (`PackedHits`): parts joined in order give each query its own hits back,
    strands and all, queries without hits included."""
    first = [[(3, Alignment(640, 0.99, 650, "+")), (7, Alignment(600, 0.95, 650, "-"))], []]
    second = [[(1, Alignment(200, 0.97, 210, "+"))], [], [(4, Alignment(5, 0.6, 300, "-"))]]
    packed = [shortlist.PackedHits.of([AlignedHits.of(hits) for hits in part]) for part in (first, second)]
    joined = shortlist.PackedHits.joined(packed)
    assert joined.lists() == first + second
    assert shortlist.PackedHits.joined([]).lists() == []
