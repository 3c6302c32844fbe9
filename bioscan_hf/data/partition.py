"""BIOSCAN-5M's partition rules (SPEC §1.3), for generated data and for users' own BOLD exports.

Species sets: seen = described names; unseen = placeholder species of a described genus with ≥ 8
samples; heldout = the other placeholder species; unknown = no species label. All samples sharing a
barcode stay in one split. Test is flattened per species; val takes ~5% of the rest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from bioscan_hf.data.schema import is_placeholder_species

MIN_SAMPLES_EVAL = 8
TEST_BASE, TEST_CAP = 4, 25
VAL_FRACTION = 0.05
UNSEEN_QUERY_FRACTION = {"test_unseen": 0.15, "val_unseen": 0.15}


def species_set(species: str | None, genus: str | None, n_samples: int) -> str:
    """Which species set a species belongs to: 'unknown', 'seen', 'unseen' or 'heldout'."""
    if not species:
        return "unknown"
    if not is_placeholder_species(species):
        return "seen"
    if genus and not is_placeholder_species(genus) and n_samples >= MIN_SAMPLES_EVAL:
        return "unseen"
    return "heldout"


def seen_test_quota(n_samples: int) -> int:
    """Samples a seen species gives to test: 4, plus ¼ per sample beyond 8, capped at 25."""
    return min(TEST_CAP, TEST_BASE + (n_samples - MIN_SAMPLES_EVAL) // 4)


def assign_splits(
    species: Sequence[str | None], genus: Sequence[str | None], barcodes: Sequence[str], seed: int = 0
) -> list[str]:
    """The split of every record, following SPEC §1.3; deterministic for a seed."""
    if not (len(species) == len(genus) == len(barcodes)):
        raise ValueError("species, genus and barcodes must have the same length")
    rng = np.random.default_rng(seed)
    splits = ["pretrain"] * len(species)
    by_species: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(species):
        if name:
            by_species[name].append(i)
    for name in sorted(by_species):
        rows = by_species[name]
        groups: dict[str, list[int]] = defaultdict(list)
        for i in rows:
            groups[barcodes[i]].append(i)
        order = [groups[b] for b in sorted(groups)]
        rng.shuffle(order)
        kind = species_set(name, genus[rows[0]], len(rows))
        if kind == "seen":
            _split_seen(order, len(rows), splits, rng)
        elif kind == "unseen":
            _split_unseen(order, len(rows), splits)
        else:
            for i in rows:
                splits[i] = "other_heldout"
    return splits


def _split_seen(groups: list[list[int]], n_samples: int, splits: list[str], rng: np.random.Generator) -> None:
    remaining = groups
    if len(groups) >= 2 and n_samples >= MIN_SAMPLES_EVAL:
        target, max_barcodes = seen_test_quota(n_samples), 1 + len(groups) // 3
        taken = 0
        chosen = 0
        for group in groups:
            if taken >= target or chosen >= max_barcodes:
                break
            for i in group:
                splits[i] = "test"
            taken += len(group)
            chosen += 1
        remaining = groups[chosen:]
    for position, group in enumerate(remaining):
        # Keep at least one barcode of every species in train.
        to_val = position > 0 and rng.random() < VAL_FRACTION
        for i in group:
            splits[i] = "val" if to_val else "train"


def _split_unseen(groups: list[list[int]], n_samples: int, splits: list[str]) -> None:
    position = 0
    for name, fraction in UNSEEN_QUERY_FRACTION.items():
        taken, target = 0, max(1.0, fraction * n_samples)
        # A query split takes whole barcodes while leaving at least one for the keys.
        while position < len(groups) - 1 and taken < target:
            for i in groups[position]:
                splits[i] = name
            taken += len(groups[position])
            position += 1
    for group in groups[position:]:
        for i in group:
            splits[i] = "key_unseen"
