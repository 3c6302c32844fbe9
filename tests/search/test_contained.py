"""Barcodes another contains exactly (`search.contained`): what `cluster` folds into their containers."""

from __future__ import annotations

import numpy as np

from bioscan_hf.search.contained import containers, outermost
from bioscan_hf.search.references import REFERENCE_COLUMNS, Reference


def _expected(barcodes: list[str]) -> list[int]:
    """The first container of each barcode by brute force (the definition `containers` computes)."""
    bases = [b.strip("N") for b in barcodes]
    found = []
    for i, inner in enumerate(bases):
        longer = (p for p, outer in enumerate(bases) if len(outer) > len(inner) or (len(outer) == len(inner) and p < i))
        found.append(next((p for p in longer if inner in bases[p]), -1))
    return found


def test_containers_are_the_first_barcode_holding_each_one_exactly() -> None:
    """Reads cut at either end or both, one padded with `N`, one with an `N` inside (contained nowhere), a
    read cut from a cut read (a chain), one differing by a base, and unrelated barcodes: the same containers
    as the brute-force definition, and `outermost` follows each chain to a barcode nothing contains."""
    rng = np.random.default_rng(5)
    full = ["".join(rng.choice(list("ACGT"), 300)) for _ in range(6)]
    cut = [full[0][40:], full[0][:250], full[1][30:270], full[1][30:200], "NNN" + full[2] + "NN"]
    inner_n = full[3][:100] + "N" + full[3][101:280]
    one_off = full[4][:150] + ("A" if full[4][150] != "A" else "C") + full[4][151:290]
    barcodes = [*cut, inner_n, one_off, *full]
    reference = Reference(_table(barcodes))
    found = containers(reference.barcodes, reference.seeds, reference.encoded)
    assert found.tolist() == _expected(reference.barcodes)
    position = {b: n for n, b in enumerate(reference.barcodes)}
    assert found[position[cut[3]]] == position[cut[2]]  # the shorter cut lies in the longer one first
    assert found[position[full[2]]] == position[cut[4]]  # the same bases, padded: the first one holds the other
    assert found[position[inner_n]] == found[position[one_off]] == -1
    top = outermost(found)
    assert top[position[cut[3]]] == position[full[1]] and top[position[full[1]]] == position[full[1]]
    assert (found[top] == -1).all()


def test_containers_on_a_random_library_equal_the_definition() -> None:
    """Many barcodes of few sequences cut at random ends: every container the definition names, none more."""
    rng = np.random.default_rng(9)
    sources = ["".join(rng.choice(list("ACGT"), 200)) for _ in range(4)]
    barcodes = set()
    while len(barcodes) < 120:
        source = sources[rng.integers(len(sources))]
        start, end = sorted(rng.integers(0, len(source), 2))
        if end - start >= 40:
            barcodes.add(source[start:end])
    reference = Reference(_table(sorted(barcodes)))
    found = containers(reference.barcodes, reference.seeds, reference.encoded)
    assert found.tolist() == _expected(reference.barcodes)
    assert (found >= 0).sum() > 60


def _table(barcodes: list[str]):
    import pandas as pd

    table = pd.DataFrame({"processid": [f"P{n}" for n in range(len(barcodes))], "dna_barcode": barcodes})
    return table.reindex(columns=list(REFERENCE_COLUMNS))
