"""SPEC §1.3's partition rules: hand-made species, barcodes spelled differently, and properties over
generated taxonomies with skewed barcode-group sizes."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bioscan_hf.core.barcodes import barcode_key, clean_barcode
from bioscan_hf.data.partition import TEST_CAP, assign_splits, seen_test_quota, species_set
from bioscan_hf.data.schema import is_placeholder_species
from bioscan_hf.models.barcodebert.tokenization_barcodebert import normalize_barcode


def test_placeholder_names() -> None:
    assert not is_placeholder_species("Tuta absoluta")
    for name in ("Megaselia sp.AAA1234", "Megaselia malaise1234", "megaselia x", "Phoridae 12"):
        assert is_placeholder_species(name)


def test_species_sets() -> None:
    assert species_set(None, "Tuta", 10) == "unknown"
    assert species_set("Tuta absoluta", "Tuta", 1) == "seen"
    assert species_set("Tuta sp. 1", "Tuta", 8) == "unseen"
    assert species_set("Tuta sp. 1", "Tuta", 7) == "heldout"
    assert species_set("Tuta sp. 1", None, 50) == "heldout"
    assert species_set("Tuta sp. 1", "tuta sp. 2", 50) == "heldout"  # a placeholder genus is not described
    assert [seen_test_quota(n) for n in (8, 11, 12, 15, 16, 91, 92, 10_000)] == [4, 4, 5, 5, 6, 24, 25, 25]


def test_barcode_policy_is_the_tokenizers() -> None:
    for text in ("acg-t ry\n", "ACGU.NN", "nnACGTnnnn", "A C\tG"):
        assert barcode_key(text) == normalize_barcode(text, strict=False)
    assert clean_barcode("acg-t ry\n") == "ACGTNN"


def test_barcodes_spelled_differently_stay_together() -> None:
    """Gaps, case and trailing N padding do not make a new barcode (the leak found on real exports)."""
    species, genus, barcodes = [], [], []
    spellings = ["{b}", "{lower}", "{b}NNNN", "-{b}-", "{lower}nn"]
    for s in range(4):
        for i in range(30):
            base = "ACGT" * 5 + "ACGT"[s] * (i % 10 + 1)
            spelling = spellings[(i // 10 + s) % len(spellings)]  # the 3 copies of a barcode spelled 3 ways
            barcodes.append(spelling.format(b=base, lower=base.lower()))
            species.append(f"Tuta species{'abcd'[s]}")
            genus.append("Tuta")
    splits = assign_splits(species, genus, barcodes, seed=3).splits
    by_key: dict[str, set[str]] = defaultdict(set)
    for b, s in zip(barcodes, splits):
        by_key[barcode_key(b)].add(s)
    assert len(by_key) == 40 and all(len(v) == 1 for v in by_key.values())
    assert "test" in splits


def test_a_big_barcode_never_overflows_the_test_quota() -> None:
    """One species, one 931-record barcode and 20 singletons: test takes singletons up to the quota."""
    barcodes = ["A" * 30] * 931 + [f"C{'A' * i}G" for i in range(20)]
    species = ["Tuta absoluta"] * len(barcodes)
    partition = assign_splits(species, ["Tuta"] * len(barcodes), barcodes, seed=0)
    in_test = Counter(partition.splits)["test"]
    assert in_test == 8  # at most 1 + ⅓ of 21 barcodes, all singletons; the big barcode stays out
    assert len(set(partition.splits[:931])) == 1 and partition.splits[0] != "test"


def test_shortfall_is_reported() -> None:
    cases = {
        "Tuta absoluta": ["A" * 9] * 9 + ["C" * 9],  # quota 4; the only barcode that fits test has 1 record
        "Tuta beta": ["G" * 9] * 10,  # one barcode: no test at all, not a shortfall
        "Tuta gamma": ["T" * 9] * 7 + ["TA"],  # exactly 8 samples: quota 4, 1 fits
        "Tuta delta": [f"GA{'C' * i}" for i in range(12)],  # quota 5 met with 5 of 12 barcodes
        "Tuta epsilon": ["CA", "CA", "CG"],  # under 8 samples: no test, not a shortfall
    }
    species = [name for name, codes in cases.items() for _ in codes]
    barcodes = [code for codes in cases.values() for code in codes]
    partition = assign_splits(species, ["Tuta"] * len(species), barcodes)
    assert partition.short_of_target == {"Tuta absoluta": (1, 4), "Tuta gamma": (1, 4)}
    assert partition.splits == assign_splits(species, ["Tuta"] * len(species), barcodes, seed=0).splits
    with pytest.raises(ValueError, match="same length"):
        assign_splits(species, ["Tuta"], barcodes)


def test_a_barcode_of_two_species_goes_with_its_majority() -> None:
    species = ["Tuta zeta"] * 20 + ["Tuta alpha"] * 2  # the majority sorts last: not picked by name
    barcodes = [f"A{'C' * (i % 5)}T" for i in range(20)] + ["ACT", "ACT"]
    partition = assign_splits(species, ["Tuta"] * 22, barcodes, seed=0)
    assert partition.shared_barcodes == {"ACT": "Tuta zeta"}
    act = {s for b, s in zip(barcodes, partition.splits) if b == "ACT"}
    assert len(act) == 1


@st.composite
def _taxonomies(draw: st.DrawFn) -> tuple[list, list, list]:
    species, genus, barcodes = [], [], []
    for s in range(draw(st.integers(1, 8))):
        placeholder = draw(st.booleans())
        genus_name = f"Gen{'abc'[s % 3]}"  # no digit: a digit would make every name a placeholder
        name = f"{genus_name} sp. {s}" if placeholder else f"{genus_name} epithet{'abcdefgh'[s]}"
        described_genus = draw(st.booleans()) or not placeholder
        sizes = draw(st.lists(st.one_of(st.integers(1, 3), st.integers(20, 300)), min_size=1, max_size=12))
        for g, size in enumerate(sizes):
            for i in range(size):
                species.append(name)
                genus.append(genus_name if described_genus else None)
                barcodes.append(f"S{s}G{g}" + ("n" * (i % 3)))  # trailing padding on some copies
    for i in range(draw(st.integers(0, 5))):
        species.append(None)
        genus.append(None)
        barcodes.append(f"U{i}")
    return species, genus, barcodes


@settings(max_examples=60, deadline=None)
@given(_taxonomies(), st.integers(0, 3))
def test_partition_invariants(taxonomy: tuple[list, list, list], seed: int) -> None:
    species, genus, barcodes = taxonomy
    splits = assign_splits(species, genus, barcodes, seed=seed).splits
    assert len(splits) == len(species)  # nothing lost
    by_key: dict[str, set[str]] = defaultdict(set)
    records: dict[str, list[int]] = defaultdict(list)
    for i, (name, barcode, split) in enumerate(zip(species, barcodes, splits)):
        if name is None:
            assert split == "pretrain"
            continue
        by_key[barcode_key(barcode)].add(split)
        records[name].append(i)
    assert all(len(v) == 1 for v in by_key.values())  # one split per normalised barcode
    for name, rows in records.items():
        kind = species_set(name, genus[rows[0]], len(rows))
        these = Counter(splits[i] for i in rows)
        keys = {barcode_key(barcodes[i]) for i in rows}
        if kind == "seen":
            assert set(these) <= {"train", "val", "test"}
            assert these["train"] > 0  # a barcode left in train
            assert these["test"] <= min(TEST_CAP, seen_test_quota(len(rows)))
            test_keys = {barcode_key(barcodes[i]) for i in rows if splits[i] == "test"}
            assert len(test_keys) <= 1 + len(keys) // 3
            if len(keys) < 2 or len(rows) < 8:
                assert these["test"] == 0
            elif these["test"] < seen_test_quota(len(rows)) and len(test_keys) < 1 + len(keys) // 3:
                # greedy and maximal: every barcode left out of test would overflow the quota
                left = seen_test_quota(len(rows)) - these["test"]
                sizes = Counter(barcode_key(barcodes[i]) for i in rows if splits[i] != "test")
                assert all(size > left for size in sizes.values()), (name, left, sizes)
        elif kind == "unseen":
            assert set(these) <= {"key_unseen", "val_unseen", "test_unseen"}
            assert these["key_unseen"] > 0  # a key barcode for every unseen species
            key_barcodes = {barcode_key(barcodes[i]) for i in rows if splits[i] == "key_unseen"}
            for query in ("test_unseen", "val_unseen"):
                target = 0.15 * len(rows)
                sizes = Counter(barcode_key(barcodes[i]) for i in rows if splits[i] == query)
                # enough records, or only the keys' last barcode left; and no barcode more than needed
                assert these[query] >= target or len(key_barcodes) == 1, (name, query, these)
                assert not sizes or these[query] - max(sizes.values()) < target, (name, query, sizes)
        else:
            assert set(these) == {"other_heldout"}
    assert assign_splits(species, genus, barcodes, seed=seed).splits == splits


def test_val_takes_barcodes_but_never_the_last_train_one(monkeypatch) -> None:
    from bioscan_hf.data import partition

    monkeypatch.setattr(partition, "VAL_FRACTION", 1.0)  # every barcode that may go to val does
    barcodes = [f"A{'C' * i}" for i in range(12)]
    splits = assign_splits(["Tuta absoluta"] * 12, ["Tuta"] * 12, barcodes, seed=0).splits
    assert Counter(splits) == {"test": 5, "train": 1, "val": 6}  # quota 5 (5 barcodes allowed), one kept in train
    monkeypatch.setattr(partition, "VAL_FRACTION", 0.0)
    splits = assign_splits(["Tuta absoluta"] * 12, ["Tuta"] * 12, barcodes, seed=0).splits
    assert Counter(splits) == {"test": 5, "train": 7}


def test_unseen_species_keep_a_key_barcode() -> None:
    """Whatever the shuffled order, the query splits leave the last barcode for the keys."""
    barcodes = ["AC", "AG"] + ["AT"] * 20  # 22 samples: each query split wants ≥ 3.3 records
    for seed in range(6):
        splits = assign_splits(["Tuta sp. 1"] * 22, ["Tuta"] * 22, barcodes, seed=seed).splits
        assert "key_unseen" in splits and set(splits) <= {"key_unseen", "val_unseen", "test_unseen"}
    singletons = [f"A{'C' * i}" for i in range(20)]  # 20 samples: each query split takes exactly 15% = 3
    splits = assign_splits(["Tuta sp. 1"] * 20, ["Tuta"] * 20, singletons, seed=0).splits
    assert Counter(splits) == {"test_unseen": 3, "val_unseen": 3, "key_unseen": 14}
