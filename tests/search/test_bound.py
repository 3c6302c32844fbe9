"""The pieces' bound (`bound.beyond`): exact, so an alignment it skips is one the bounded alignment would
have dropped, and strong enough at the distances of a query far from everything to skip most of them."""

from __future__ import annotations

import numpy as np
from helpers import counted_alignments, edited, seed_ranked_library

import bioscan_hf.search.align as align_module
from bioscan_hf.search.align import align, allowed_edits
from bioscan_hf.search.bound import beyond, encode_barcodes, encode_query
from bioscan_hf.search.seeds import SharedSeeds
from bioscan_hf.search.shortlist import ranked_alignments

RNG = np.random.default_rng(23)


def _pairs(rng) -> tuple[str, list[str]]:
    """A query (sometimes N-padded, sometimes with an N inside) and references at 0–120 edits from it, some cut
    shorter, some longer, some unrelated."""
    query = "".join(rng.choice(list("ACGT"), int(rng.integers(30, 700))))
    references = []
    for edits in (0, 1, 3, 8, 20, 40, 80, 120):
        reference = edited(query, min(edits, len(query) // 3), rng)
        cut = int(rng.integers(0, 4))
        if cut == 1:
            reference = reference[int(rng.integers(0, 40)) : len(reference) - int(rng.integers(0, 40))] or "A"
        elif cut == 2:
            reference = "".join(rng.choice(list("ACGT"), int(rng.integers(1, 200)))) + reference
        elif cut == 3:
            reference = "NNN" + reference + "NN"
        references.append(reference)
    references.append("".join(rng.choice(list("ACGT"), int(rng.integers(20, 800)))))
    if rng.random() < 0.3:
        at = int(rng.integers(0, len(query)))
        query = query[:at] + "N" + query[at + 1 :]
    if rng.random() < 0.3:
        query = "NNNN" + query + "N"
    return query, references


def _edits(query: str, references: list[str], strand: str) -> np.ndarray:
    """Each reference's edits from `query` read on `strand`, as `align` counts them (exact)."""
    return np.array([allowed_edits(a.overlap, a.score) for a in (align(query, r, strand) for r in references)])


def test_the_bound_never_skips_an_alignment_within_its_edits() -> None:
    skipped = 0
    for _ in range(60):
        query, references = _pairs(RNG)
        library = encode_barcodes(references)
        for strand in "+-":
            distances = _edits(query, references, strand)
            read = encode_query(align_module.oriented(query, strand))
            for slack in range(-4, 5):
                edits = np.maximum(distances + slack, 0)
                far = beyond(read, library, np.arange(len(references)), edits)
                assert not far[distances <= edits].any(), (query, slack)  # exact
                skipped += int(far.sum())
    assert skipped > 1000  # and it does skip


def test_the_bound_skips_most_references_a_little_beyond_the_floor() -> None:
    """At 10% from a query, 5 edits beyond what is allowed (the unseen plate's bounded alignments: most miss
    their floor by more), nearly every reference is skipped unaligned."""
    query = "".join(RNG.choice(list("ACGT"), 658))
    references = [edited(query, 66, RNG) for _ in range(200)]
    distances = _edits(query, references, "+")
    far = beyond(encode_query(query), encode_barcodes(references), np.arange(200), distances - 5)
    assert far.mean() > 0.9


def test_ranked_hits_are_the_same_with_the_bound_and_fewer_are_aligned(monkeypatch) -> None:
    query, references, positions, counts = seed_ranked_library(RNG, 90)
    calls = counted_alignments(monkeypatch)
    library = encode_barcodes(references)
    for strand, shared in (("+", None), ("both", None), ("+", SharedSeeds(counts, int(counts[0])))):
        calls[:] = []
        without = ranked_alignments(query, references, positions, strand, exact_first=20, shared=shared).hits()
        aligned_without, calls[:] = len(calls), []
        with_bound = ranked_alignments(
            query, references, positions, strand, exact_first=20, shared=shared, encoded=library
        ).hits()
        assert with_bound == without
        assert len(calls) <= aligned_without
        if shared is None:  # (the lemma alone leaves few here: random edits spare few seeds)
            assert len(calls) < aligned_without / 5  # the far references were passed over unaligned


def test_the_kernel_compiles_where_no_cache_folder_can_be_written(monkeypatch) -> None:
    """numba caches the search's compiled kernels beside its source or in the user's cache folder; where neither can be
    written (a read-only install and home), it is compiled at every run instead of failing."""
    import importlib

    from numba.core import caching

    from bioscan_hf.search import _kernels

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])
    try:
        uncached = importlib.reload(_kernels)
        assert uncached.beyond_batch._cache.__class__.__name__ == "NullCache"
        found = np.zeros(2, dtype=np.bool_)
        library = encode_barcodes(["ACGTACGTAAAC", "TTTTTTTTTTTT"])
        query = encode_query("ACGTAC")
        edits, positions = np.zeros(2, dtype=np.int64), np.arange(2)
        uncached.beyond_batch(query, library.codes, library.starts, library.ends, positions, edits, 64, found)
        assert found.tolist() == [False, True]
    finally:
        monkeypatch.undo()
        importlib.reload(_kernels)
