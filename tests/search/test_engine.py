"""The engine on what it must not be fooled by: a genus of near-identical references that shares more seeds
with the query than its best hit does (the flood), and queries that are no barcode of the library — random,
shuffled or reversed DNA, chimeras of two orders, and real barcodes of an order the library lacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import flood_case

from bioscan_hf.data.sources import Problems, Query
from bioscan_hf.search.engine import Identifier
from bioscan_hf.search.held_out import calibrate
from bioscan_hf.search.plate import adapt_to_plate
from bioscan_hf.search.references import Reference, read_references


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_flooded_genus_does_not_hide_the_best_hit(seed: int) -> None:
    table, query, best = flood_case(seed)
    reference = Reference(table)
    positions, _ = reference.seeds.ranked([query], 1000)[0]
    best_key = reference.barcodes.index(table.set_index("processid").dna_barcode[best])
    assert list(positions).index(best_key) >= 150  # the case is real: 150+ flood references share more seeds
    _, hits = Identifier(reference).identify([Query("q", sequence=query)], top_k=3)
    assert hits[0]["sseqid"] == best and hits[0]["pident"] > hits[1]["pident"]


def _classes(table: pd.DataFrame, library: pd.DataFrame, rng: np.random.Generator) -> dict[str, list[str]]:
    known = table[table.order != "Hymenoptera"]
    real = list(known[~known.processid.isin(library.processid)].sample(100, random_state=1).dna_barcode)
    lepidoptera = table[table.order == "Lepidoptera"].sample(20, random_state=2).dna_barcode
    diptera = table[table.order == "Diptera"].sample(20, random_state=3).dna_barcode
    return {
        "random": ["".join(rng.choice(list("ACGT"), 650)) for _ in range(20)],
        "at_rich": ["".join(rng.choice(list("ACGT"), 650, p=[0.35, 0.15, 0.15, 0.35])) for _ in range(20)],
        "shuffled": ["".join(rng.permutation(list(s))) for s in real[:20]],
        "reversed": [s[::-1] for s in real[20:40]],  # COI's composition, no homology: no COI barcode
        "chimera": [a[: len(a) // 2] + b[len(b) // 2 :] for a, b in zip(lepidoptera, diptera)],
        "order_absent": list(table[table.order == "Hymenoptera"].sample(60, random_state=4).dna_barcode),
        "known": real[40:100],
        "amplicon": [s[:200] for s in real[40:100]],  # the same, cut to a metabarcoding read's length
        "fragment": [s[:120] for s in real[40:60]],  # shorter than any window the calibration learned from
        "random_amplicon": ["".join(rng.choice(list("ACGT"), 200)) for _ in range(20)],
        "shuffled_amplicon": [s[:200] for s in ("".join(rng.permutation(list(s))) for s in real[:20])],
        "order_absent_amplicon": [
            s[:200] for s in table[table.order == "Hymenoptera"].sample(60, random_state=4).dna_barcode
        ],
    }


@pytest.mark.real_data
def test_what_is_no_barcode_of_the_library_is_not_called(bold_tsv: Path) -> None:
    table = read_references(bold_tsv, problems=Problems(skip=True))
    library = table[table.order != "Hymenoptera"].sample(8000, random_state=0).reset_index(drop=True)
    engine = Identifier(Reference(library), calibration=calibrate(library, queries=2000, progress=False))
    called, notes, plate = {}, {}, {}
    for name, sequences in _classes(table, library, np.random.default_rng(0)).items():
        rows, _ = engine.identify([Query(f"{name}{i}", sequence=s) for i, s in enumerate(sequences)])
        called[name] = sum(bool(row["lineage"]) for row in rows)
        notes[name] = [row["note"] for row in rows]
        plate[name] = adapt_to_plate(pd.DataFrame(rows), 0.9)  # as `identify` adapts a plate of them alone
    print(called)
    for name in ("random", "at_rich", "shuffled", "reversed"):
        assert called[name] == 0
        assert all("not a COI barcode of this library?" in note for note in notes[name])
    assert called["chimera"] <= 2  # measured: 1 of 20 (its halves differ by under 12 points)
    assert any("a chimera or a mixed read?" in note for note in notes["chimera"])
    assert called["order_absent"] <= 2  # measured: 1 of 60 as queries alone (issue 40 asks for none) ...
    adapted, known = plate["order_absent"]  # ... none as a plate: its share of known orders is estimated low
    assert (adapted["lineage"] == "").all() and known["order"]["plate"] < 0.5
    assert plate["known"][1]["order"]["plate"] > 0.9 and (plate["known"][0]["lineage"] != "").sum() >= called["known"]
    assert called["known"] >= 55  # a real signal: barcodes of species the library holds are called
    assert called["amplicon"] >= 50  # the short-query models call what a 200-base read can tell
    assert called["fragment"] == 0  # shorter than the calibration's windows: its confidence is no promise
    assert all("bases, shorter than the queries the calibration learned from" in n for n in notes["fragment"])
    assert called["random_amplicon"] == called["shuffled_amplicon"] == 0
    assert all("not a COI barcode of this library?" in note for note in notes["random_amplicon"])
    assert called["order_absent_amplicon"] <= 2


@pytest.mark.real_data
def test_real_barcodes_against_the_synthetic_sample_are_not_called(
    prepared: Path, bold_tsv: Path, tmp_path: Path
) -> None:
    """The README's first hour: real BOLD barcodes (none of their species in the synthetic sample: ~55%
    identity) against the sample's reference get no call, and each says why."""
    from bioscan_hf.search import identify

    real = read_references(bold_tsv, problems=Problems(skip=True)).sample(30, random_state=0)
    (tmp_path / "real.fasta").write_text("".join(f">{r.processid}\n{r.dna_barcode}\n" for r in real.itertuples()))
    run = identify(tmp_path / "real.fasta", prepared, tmp_path / "calls.tsv", progress=False)
    assert (run.results["lineage"].fillna("") == "").all()
    assert run.results["note"].str.contains("not a COI barcode of this library?").all()
