"""The seed shortlist: its shared-seed counts, and its q-gram rule (`SharedSeeds.may_be_within`): exact, so
the references it spares from alignment are only ones the bounded alignment would have dropped anyway."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import counted_alignments, edited, seed_ranked_library

from bioscan_hf.search.align import align
from bioscan_hf.search.complements import NO_COMPLEMENTS
from bioscan_hf.search.seeds import SeedIndex, SharedSeeds, seed_codes, slot_order
from bioscan_hf.search.shortlist import ranked_alignments

RNG = np.random.default_rng(11)


def _references(query: str, rng) -> list[str]:
    """References at 0–40 edits from `query`, some cut shorter or longer than it, and unrelated ones."""
    found = []
    for edits in (0, 1, 2, 3, 5, 7, 10, 15, 25, 40):
        for _ in range(3):
            reference = edited(query, edits, rng)
            cut = int(rng.integers(0, 3))
            if cut == 1:  # a partial reference: the query is longer than it
                reference = reference[int(rng.integers(0, 60)) : len(reference) - int(rng.integers(0, 60))]
            elif cut == 2:  # a longer one
                reference = "".join(rng.choice(list("ACGT"), 30)) + reference
            found.append(reference)
    return found + ["".join(rng.choice(list("ACGT"), len(query))) for _ in range(10)]


def test_seeds_most_barcodes_hold_are_counted_from_the_barcodes_lacking_them() -> None:
    """A seed held by more than half the barcodes is counted from those lacking it (every barcode given one,
    those lacking it one less, in unsigned counts that wrap below 0): each reference's count is still the
    number of seeds it shares with the query, and the shortlist the one its own lists give."""
    rng = np.random.default_rng(5)
    ancestor = "".join(rng.choice(list("ACGT"), 600))
    references = [edited(ancestor, int(edits), rng) for edits in rng.integers(0, 60, 300)]
    references += ["".join(rng.choice(list("ACGT"), 600)) for _ in range(30)] + ["N" * 50]  # unrelated, seedless
    index = SeedIndex.build(references)
    assert len(index.complements.codes) > 100
    plain = SeedIndex(index.indptr, index.postings, index.size, index.order)
    plain.complements = NO_COMPLEMENTS
    queries = [edited(ancestor, 30, rng), references[7], "".join(rng.choice(list("ACGT"), 500)), ancestor[:250]]
    for query, (positions, counts), (plain_positions, plain_counts) in zip(
        queries, index.ranked(queries, len(references)), plain.ranked(queries, len(references))
    ):
        np.testing.assert_array_equal(positions, plain_positions)
        np.testing.assert_array_equal(counts, plain_counts)
        seeds = set(seed_codes(query).tolist())
        assert [len(seeds.intersection(seed_codes(references[p]).tolist())) for p in positions] == counts.tolist()


@pytest.mark.parametrize("budget", [None, 3_000])
def test_the_q_gram_rule_never_rejects_a_reference_within_its_edits(budget: int | None) -> None:
    rejected = 0
    for trial in range(6):
        query = "".join(RNG.choice(list("ACGT"), int(RNG.integers(400, 700))))
        if trial % 2:  # a partial query (N padding kept), shorter than most references
            query = "N" * 40 + query[:300] + "N" * 20
        references = _references(query.strip("N"), RNG)
        index = SeedIndex.build(references)
        positions, counts = index.ranked([query], len(references), budget)[0]
        shared = SharedSeeds(counts, int(counts[0]))
        for n, position in enumerate(positions):
            reference = references[position]
            found = align(query, reference)
            distance = round((1 - found.identity) * found.overlap)
            longer_by = len(query.strip("N")) - len(reference)
            for edits in range(0, 45):
                if not shared.may_be_within(n, edits, longer_by):
                    assert distance > edits, (trial, n, edits, distance)  # exact: never a reference within
                    rejected += 1
    assert rejected > 100  # and it does rule references out


def test_ranked_hits_are_the_same_with_the_rule_and_fewer_are_aligned(monkeypatch) -> None:
    query, references, positions, counts = seed_ranked_library(RNG, 60)
    calls = counted_alignments(monkeypatch)
    without = ranked_alignments(query, references, positions, exact_first=20).hits()
    aligned_without, calls[:] = len(calls), []
    with_rule = ranked_alignments(
        query, references, positions, exact_first=20, shared=SharedSeeds(counts, int(counts[0]))
    ).hits()
    assert with_rule == without
    assert len(calls) < aligned_without - 100  # the far references were passed over unaligned


def test_compiled_seeds_equal_the_definition_around_unknown_bases() -> None:
    """The compiled kernels roll each window's seed on from the one three bases earlier: with `N`s scattered
    (single, in runs, at either end, on read and skipped positions), each barcode's seeds are still exactly
    `seed_codes`' (every window whose read positions are known, NumPy's sliding windows)."""
    from bioscan_hf.search.seeds import _batch_seeds, _index_seeds

    rng = np.random.default_rng(11)
    barcodes = []
    for _ in range(60):
        bases = list("".join(rng.choice(list("ACGT"), int(rng.integers(10, 200)))))
        for _ in range(int(rng.integers(0, 8))):
            at = int(rng.integers(len(bases)))
            bases[at : at + int(rng.integers(1, 4))] = "N" * len(bases[at : at + 3])
        barcodes.append("".join(bases))
    rows, codes = _batch_seeds(barcodes)
    index_rows, index_codes = _index_seeds(barcodes)
    for n, barcode in enumerate(barcodes):
        expected = seed_codes(barcode).tolist()
        assert codes[rows == n].tolist() == expected
        assert sorted(index_codes[index_rows == n].tolist()) == expected


@pytest.mark.parametrize("budget", [None, 1, 2_000])
def test_a_hidden_barcode_is_never_listed_and_the_rest_rank_as_before(budget: int | None) -> None:
    """`SeedIndex.hiding`: the barcodes of the mask are never listed, every other one keeps its count and its
    place (every shared seed counted, and a budget so small that its few entries are hashed instead)."""
    rng = np.random.default_rng(9)
    ancestor = "".join(rng.choice(list("ACGT"), 500))
    references = [edited(ancestor, int(edits), rng) for edits in rng.integers(0, 80, 200)]
    index = SeedIndex.build(references)
    hidden = rng.random(len(references)) < 0.3
    hiding = index.hiding(hidden)
    assert hiding.postings is index.postings and index.hidden is None  # shared arrays; the index unchanged
    queries = [edited(ancestor, 20, rng) for _ in range(5)] + [references[int(np.flatnonzero(hidden)[0])]]
    for (positions, counts), (all_positions, all_counts) in zip(
        hiding.ranked(queries, len(references), budget), index.ranked(queries, len(references), budget)
    ):
        assert not hidden[positions].any() and (len(positions) or budget == 1)  # (1: a hidden one's own list)
        shown = ~hidden[all_positions]
        assert positions.tolist() == all_positions[shown].tolist() and counts.tolist() == all_counts[shown].tolist()


def test_the_references_above_the_cut_are_those_numpy_finds() -> None:
    """`_seed_kernels.above_cut` (its histogram counted four ways at once): every reference whose count reaches the
    `candidates`-th highest (1 at least), ascending, with its count."""
    from bioscan_hf.search import _seed_kernels

    rng = np.random.default_rng(2)
    for size, most, candidates in ((1_003, 40, 50), (5_001, 300, 2_000), (7, 5, 20), (10_000, 2, 100)):
        counts = rng.integers(0, most + 1, size).astype(np.uint16)
        counts[rng.random(size) < 0.4] = 0
        counts[-(size % 4 or 3) :] = most  # the last, past the four histograms' turns, among the top
        cut = max(1, int(np.sort(counts)[::-1][min(candidates, size) - 1]))
        positions, found = _seed_kernels.above_cut(counts, most, candidates)
        assert positions.tolist() == np.flatnonzero(counts >= cut).tolist()
        assert found.tolist() == counts[positions].tolist()


def test_near_identical_barcodes_take_neighbouring_slots() -> None:
    """`slot_order`: barcodes of one family (a template at 1–3 edits), given shuffled, sit in few runs of slots
    (their seeds' min-hash mostly shared), so a query's counts of a family fall on few cache lines; and the
    shortlist names them by position as before."""
    rng = np.random.default_rng(3)
    templates = ["".join(rng.choice(list("ACGT"), 600)) for _ in range(20)]
    family = np.repeat(np.arange(20), 25)
    rng.shuffle(family)
    barcodes = [edited(templates[f], int(rng.integers(1, 4)), rng) for f in family]
    order = slot_order(barcodes)
    assert sorted(order.tolist()) == list(range(len(barcodes)))
    assert 1 + np.count_nonzero(np.diff(family[order])) < 100  # ~480 runs in the order given
    positions, counts = SeedIndex.build(barcodes).ranked([templates[4]], 25)[0]
    assert set(family[positions].tolist()) == {4}
    seeds = set(seed_codes(templates[4]).tolist())
    assert [len(seeds.intersection(seed_codes(barcodes[p]).tolist())) for p in positions] == counts.tolist()
