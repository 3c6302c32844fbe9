"""SPEC §1.3's partition rules on hand-made species."""

from __future__ import annotations

from collections import Counter

from bioscan_hf.data.partition import assign_splits, seen_test_quota, species_set
from bioscan_hf.data.schema import is_placeholder_species


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
    assert seen_test_quota(8) == 4 and seen_test_quota(12) == 5 and seen_test_quota(10_000) == 25


def test_barcodes_stay_in_one_split_and_sets_go_where_they_belong() -> None:
    species, genus, barcodes = [], [], []
    for s in range(6):
        for i in range(40):
            species.append(f"Tuta species{'abcdef'[s]}" if s < 3 else f"Tuta sp. {s}")
            genus.append("Tuta")
            barcodes.append(f"B{s}-{i % 12}")
    species += [None] * 5
    genus += ["Tuta"] * 5
    barcodes += [f"U{i}" for i in range(5)]
    splits = assign_splits(species, genus, barcodes, seed=1)
    by_barcode = {}
    for b, s in zip(barcodes, splits):
        assert by_barcode.setdefault(b, s) == s
    counts = Counter(splits)
    assert counts["pretrain"] == 5
    seen = [s for sp, s in zip(species, splits) if sp and not is_placeholder_species(sp)]
    assert set(seen) <= {"train", "val", "test"} and "test" in seen and "train" in seen
    unseen = [s for sp, s in zip(species, splits) if sp and is_placeholder_species(sp)]
    assert set(unseen) == {"key_unseen", "val_unseen", "test_unseen"}
    per_species_test = Counter(sp for sp, s in zip(species, splits) if s == "test")
    assert all(n <= 1 + 12 // 3 * 10 for n in per_species_test.values())
    assert assign_splits(species, genus, barcodes, seed=1) == splits
