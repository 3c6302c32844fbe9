"""BIOSCAN-5M's partition rules (SPEC §1.3), for generated data and for users' own BOLD exports.

Species sets: seen = described names; unseen = placeholder species of a described genus with ≥ 8
samples; heldout = the other placeholder species; unknown = no species label. All samples sharing a
barcode stay in one split. Test is flattened per species; val takes ~5% of the rest.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bioscan_hf.core.barcodes import barcode_key
from bioscan_hf.core.errors import InputError
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


@dataclass
class Partition:
    """The split of every record, and what the rules could not fully meet (for the import report)."""

    splits: list[str]
    #: Seen species whose test share is below the target: species → (records in test, target).
    short_of_target: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Barcodes carrying several species: barcode key → the species placed with it (its majority).
    shared_barcodes: dict[str, str] = field(default_factory=dict)


def assign_splits(
    species: Sequence[str | None], genus: Sequence[str | None], barcodes: Sequence[str], seed: int = 0
) -> Partition:
    """The split of every record, following SPEC §1.3; deterministic for a seed.

    Records are grouped by `barcode_key` (gaps, case and trailing `N` padding do not make a new
    barcode), and every labelled record of one barcode goes to one split: a barcode carrying several
    species goes with its majority species. Unlabelled records go to pretrain.
    """
    if not (len(species) == len(genus) == len(barcodes)):
        raise InputError("species, genus and barcodes must have the same length")
    rng = np.random.default_rng(seed)
    splits = ["pretrain"] * len(species)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(species):
        if name:
            groups[barcode_key(barcodes[i])].append(i)
    by_species: dict[str, list[str]] = defaultdict(list)
    result = Partition(splits)
    for key in sorted(groups):
        votes = Counter(species[i] for i in groups[key])
        owner = min(votes, key=lambda name: (-votes[name], name))
        by_species[owner].append(key)
        if len(votes) > 1:
            result.shared_barcodes[key] = owner
    for name in sorted(by_species):
        order = [groups[key] for key in by_species[name]]
        rng.shuffle(order)
        n_samples = sum(map(len, order))
        first = next(i for i in order[0] if species[i] == name)
        kind = species_set(name, genus[first], n_samples)
        if kind == "seen":
            shortfall = _split_seen(order, n_samples, splits, rng)
            if shortfall:
                result.short_of_target[name] = shortfall
        elif kind == "unseen":
            _split_unseen(order, n_samples, splits)
        else:
            for group in order:
                for i in group:
                    splits[i] = "other_heldout"
    return result


def _split_seen(
    groups: list[list[int]], n_samples: int, splits: list[str], rng: np.random.Generator
) -> tuple[int, int] | None:
    """Flatten test (whole barcodes, at most the quota, at most 1 + ⅓ of the barcodes — which always
    leaves one barcode for train), then ~5% of the other barcodes to val. Returns (records in test,
    quota) when a species that takes part in test falls short of its quota, else None."""
    chosen: set[int] = set()
    taken, shortfall = 0, None
    if len(groups) >= 2 and n_samples >= MIN_SAMPLES_EVAL:
        target, max_barcodes = seen_test_quota(n_samples), 1 + len(groups) // 3
        for position, group in enumerate(groups):
            if taken >= target or len(chosen) >= max_barcodes:
                break
            if taken + len(group) > target:
                continue  # a barcode that would overflow the quota stays out of test
            chosen.add(position)
            taken += len(group)
        if taken < target:
            shortfall = (taken, target)
    train_kept = False  # the first barcode left out of test always goes to train
    for position, group in enumerate(groups):
        if position in chosen:
            split = "test"
        else:
            split = "val" if train_kept and rng.random() < VAL_FRACTION else "train"
            train_kept = True
        for i in group:
            splits[i] = split
    return shortfall


def _split_unseen(groups: list[list[int]], n_samples: int, splits: list[str]) -> None:
    position = 0
    for name, fraction in UNSEEN_QUERY_FRACTION.items():
        taken, target = 0, fraction * n_samples  # ≥ 1.2: an unseen species has ≥ 8 samples
        # A query split takes whole barcodes while leaving at least one for the keys.
        while position < len(groups) - 1 and taken < target:
            for i in groups[position]:
                splits[i] = name
            taken += len(groups[position])
            position += 1
    for group in groups[position:]:
        for i in group:
            splits[i] = "key_unseen"
