"""A label's loosest sibling identity, and the calibration feature read from it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bioscan_hf.search.calls import Hit, rank_evidence
from bioscan_hf.search.references import REFERENCE_COLUMNS, Reference

RNG = np.random.default_rng(0)
BASE = "".join(RNG.choice(list("ACGT"), 600))


def mutant(sequence: str, changes: int, seed: int) -> str:
    """`sequence` with `changes` substitutions at distinct places."""
    rng = np.random.default_rng(seed)
    bases = list(sequence)
    for where in rng.choice(len(bases), changes, replace=False):
        bases[where] = "ACGT"[("ACGT".index(bases[where]) + 1) % 4]
    return "".join(bases)


def library() -> pd.DataFrame:
    """Genus Loose: two species 10% apart (one carries a rare far variant); genus Tight: three species
    within 2%; genus Lone: one species. All in one family."""
    loose_a, far_variant = BASE, mutant(BASE, 200, 9)
    loose_b, tight = mutant(BASE, 60, 1), mutant(BASE, 150, 2)
    rows = [
        ("Loose", "Loose a", loose_a),
        ("Loose", "Loose a", loose_a),
        ("Loose", "Loose a", far_variant),  # rarer than the species' commonest barcode: not its stand-in
        ("Loose", "Loose b", loose_b),
        ("Tight", "Tight a", tight),
        ("Tight", "Tight b", mutant(tight, 12, 3)),
        ("Tight", "Tight c", mutant(tight, 6, 4)),
        ("Lone", "Lone a", mutant(BASE, 250, 5)),
    ]
    table = pd.DataFrame(
        [
            {"processid": f"P{i}", "dna_barcode": barcode, "order": "O", "family": "F", "genus": g, "species": s}
            for i, (g, s, barcode) in enumerate(rows)
        ]
    )
    return table.reindex(columns=list(REFERENCE_COLUMNS)).astype(object).where(table.notna(), None)


def test_a_labels_loosest_sibling_is_its_farthest_subgroup_from_its_nearest() -> None:
    reference = Reference(library())
    loosest = reference.loosest_siblings("genus")
    assert set(loosest) == {"Loose", "Tight"}  # one species: nothing to compare
    assert loosest["Loose"] == pytest.approx(0.90)  # the commonest barcodes, not the far variant
    assert loosest["Tight"] == pytest.approx(0.98)  # b's nearest is c (98%), not a (99%)
    assert reference.loosest_siblings("species") == {}  # no rank below species
    family = reference.loosest_siblings("family")["F"]
    assert 0.5 < family < 0.75  # Lone sits farthest from its nearest genus


def test_evidence_tells_how_far_inside_its_candidates_spread_the_best_hit_is() -> None:
    reference = Reference(library())
    assert math.isnan(reference.loosest_sibling("genus", "Lone"))
    tight = reference.table.index[reference.table["species"] == "Tight a"][0]
    key = int(reference.key_of_record[tight])
    found = rank_evidence(reference, [Hit(key, 0.95, 500, 1.0)])
    assert found["genus"].label == "Tight" and found["genus"].inside == pytest.approx(0.95 - 0.98)
    assert found["genus"].features()[-1] == found["genus"].inside
    assert math.isnan(found["species"].inside)  # species have no subgroups
