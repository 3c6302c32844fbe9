"""Confidences adapted to a plate's share of known species and orders (`search.plate`, `calibration.adapted`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bioscan_hf.data.schema import CALL_RANKS
from bioscan_hf.data.sources import Problems
from bioscan_hf.search import identify, read_references
from bioscan_hf.search.calibration import DEFAULT_FILE, adapted, plate_share
from bioscan_hf.search.calls import decided, read_candidates


def _calibrated_plate(share: float, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of a model calibrated where half the candidates were right (evidence x ~ N(±1, 1): p =
    sigmoid(2x)), on a plate where `share` of them are right; and which are."""
    right = rng.random(size) < share
    x = rng.normal(np.where(right, 1.0, -1.0), 1.0)
    return 1.0 / (1.0 + np.exp(-2.0 * x)), right


def test_adapted_keeps_certainties_and_order_and_changes_nothing_at_the_models_own_share() -> None:
    p = np.array([0.0, 0.01, 0.3, 0.5, 0.9, 1.0])
    assert np.allclose(adapted(p, 0.5, 0.5), p)
    low, high = adapted(p, 0.5, 0.05), adapted(p, 0.5, 0.95)
    assert low[0] == 0.0 and low[-1] == 1.0 and high[0] == 0.0 and high[-1] == 1.0
    assert (np.diff(low) > 0).all() and (np.diff(high) > 0).all()
    assert (low[1:-1] < p[1:-1]).all() and (high[1:-1] > p[1:-1]).all()


@pytest.mark.parametrize("share", [0.0, 0.05, 0.3, 0.9, 1.0])
def test_plate_share_recovers_a_plates_share_and_makes_its_probabilities_calibrated(share: float) -> None:
    rng = np.random.default_rng(1)
    p, right = _calibrated_plate(share, 3000, rng)
    estimate = plate_share(p, 0.5)
    assert abs(estimate - share) < 0.03
    q = adapted(p, 0.5, estimate)
    bins = np.minimum((q * 10).astype(int), 9)  # what the adapted probabilities promise is what the plate gives
    error = sum(abs(q[bins == b].mean() - right[bins == b].mean()) * (bins == b).sum() for b in set(bins)) / len(q)
    assert error < 0.03
    assert abs(plate_share(p[:1], 0.5) - 0.5) < 0.05  # one query barely moves it


def test_plate_share_of_probabilities_that_say_nothing_is_the_models_own_and_quick() -> None:
    assert plate_share(np.full(1_000_000, 0.3), 0.3) == pytest.approx(0.3, abs=1e-6)
    assert plate_share(np.zeros(0), 0.4) == pytest.approx(0.4)


def _facts(**why: str) -> dict:
    """`call`'s keys for a query whose candidates are Diptera, Culicidae, Aedes and Aedes aegypti (`why`: a rank's
    reason not to call it whatever its confidence)."""
    candidates = {"order": "Diptera", "family": "Culicidae", "genus": "Aedes", "species": "Aedes aegypti"}
    facts = {"_by_confidence": True}
    for rank in CALL_RANKS:
        facts |= {f"_candidate_{rank}": candidates.get(rank), f"{rank}_support": 3, f"_why_{rank}": why.get(rank, "")}
    return facts


def test_decided_makes_the_chain_again_at_other_confidences() -> None:
    """What `identify` runs again once a plate's share moves a rank's confidences: a rank called now opens the
    ranks below it, one no longer called closes them, and the note names the first rank not called."""
    sure = {"order": 1.0, "family": 0.99, "subfamily": 0.0, "genus": 0.97, "species": 0.62, "dna_bin": 0.0}
    called = decided(_facts(), sure | {"species": 0.95}, 0.9)
    assert called["species"] == "Aedes aegypti" and called["note"] == "" and called["species_confidence"] == 0.95
    assert called["lineage"] == "o:Diptera,f:Culicidae,g:Aedes,s:Aedes_aegypti"
    assert called["candidates"] == "o:Diptera(1.00),f:Culicidae(0.99),g:Aedes(0.97),s:Aedes_aegypti(0.95)"
    assert read_candidates(called["candidates"])["species"] == ("Aedes aegypti", 0.95)
    assert read_candidates("g:Aedes_sp._(BOLD:AAA1234)(0.50)") == {"genus": ("Aedes sp. (BOLD:AAA1234)", 0.5)}
    uncalled = decided(_facts(), sure, 0.9)
    assert uncalled["species"] is None and uncalled["lineage"] == "o:Diptera,f:Culicidae,g:Aedes"
    assert uncalled["note"].startswith("no call at species: confidence 0.62 < 0.9 (best candidate Aedes aegypti)")
    no_order = decided(_facts(), sure | {"order": 0.5, "species": 0.99}, 0.9)  # nothing below an uncalled order
    assert no_order["lineage"] == "" and no_order["genus"] is None and no_order["species"] is None
    assert no_order["note"].startswith("no call at order: confidence 0.50 < 0.9 (best candidate Diptera)")
    assert no_order["genus_confidence"] == 0.97 and "g:Aedes(0.97)" in no_order["candidates"]
    blocked = decided(_facts(genus="the best hit covers 50.0% of the query"), sure | {"species": 0.99}, 0.9)
    assert blocked["lineage"] == "o:Diptera,f:Culicidae" and blocked["species"] is None
    assert blocked["note"].startswith("no call at genus: the best hit covers 50.0%")
    assert decided(_facts(), sure | {"genus": 0.89996}, 0.9)["genus"] == "Aedes"  # decided as shown (0.9000)


def _plates(bold_tsv: Path, folder: Path) -> tuple[Path, dict[str, Path]]:
    """The real BOLD file as a reference less one species of every genus with three or more (the `unseen`
    plate: 150 of their records) and less 150 records of other species (the `seen` plate), as FASTA."""
    table = read_references(bold_tsv, None, Problems(skip=True)).dropna(subset=["genus", "species"])
    rng = np.random.default_rng(0)
    species_per_genus = table.groupby("genus")["species"].nunique()
    genera = species_per_genus[species_per_genus >= 3].index
    held = {rng.choice(sorted(table.loc[table["genus"] == g, "species"].unique())) for g in genera}
    unseen = table[table["species"].isin(held)]
    others = table[~table["species"].isin(held)]
    seen = others.iloc[rng.choice(len(others), 150, replace=False)]
    reference = others.drop(seen.index)

    def fasta(rows: pd.DataFrame, path: Path) -> Path:
        lines = [
            f">{r.processid};tax=o:{r.order},f:{r.family},g:{r.genus},s:{r.species.replace(' ', '_')};\n"
            f"{r.dna_barcode}\n"
            for r in rows.itertuples()
        ]
        path.write_text("".join(lines))
        return path

    plates = {
        "unseen": fasta(unseen.iloc[rng.choice(len(unseen), 150, replace=False)], folder / "unseen.fasta"),
        "seen": fasta(seen, folder / "seen.fasta"),
    }
    mixed = plates["unseen"].read_text() + plates["seen"].read_text()
    plates["mixed"] = folder / "mixed.fasta"
    plates["mixed"].write_text(mixed)
    return fasta(reference, folder / "reference.fasta"), plates


def test_a_plate_of_unknown_species_gets_no_species_call_and_one_of_known_species_more(
    bold_tsv: Path, tmp_path: Path
) -> None:
    """Real barcodes: species held out of the reference whole are never called to a species once the plate's
    share is estimated, while the same plate's queries alone may be (sister species sharing barcodes);
    records of species the reference holds are called at least as often, as accurately; the estimated
    shares are those of the plates."""
    reference, plates = _plates(bold_tsv, tmp_path)
    settings = {"calibration": str(DEFAULT_FILE), "progress": False}
    runs = {
        (name, per_query): identify(
            plate, reference, tmp_path / f"{name}{per_query}.tsv", per_query=per_query, **settings
        )
        for name, plate in plates.items()
        for per_query in ((False, True) if name != "mixed" else (False,))
    }
    unseen, unseen_alone = runs["unseen", False].results, runs["unseen", True].results
    assert unseen["species"].isna().all()
    assert (unseen["species_confidence"] <= unseen_alone["species_confidence"] + 1e-4).all()
    assert runs["unseen", False].known_species["plate"] < 0.1 and runs["unseen", True].known_species is None
    seen, seen_alone = runs["seen", False].results, runs["seen", True].results
    assert seen["species"].notna().sum() >= seen_alone["species"].notna().sum() >= 100
    called = seen[seen["species"].notna()]
    assert (called["species"] == called["true_species"]).mean() >= 0.98
    assert runs["seen", False].known_species["plate"] > 0.85
    assert abs(runs["mixed", False].known_species["plate"] - 0.5) < 0.15
    summary = {s["rank"]: s for s in runs["unseen", False].summary}["species"]
    assert summary["known_species_share"] == runs["unseen", False].known_species
    assert "adapted to this plate" in runs["unseen", False].report()
    # above species only the order's confidences move (the plate's orders are all known: up), and with them
    # the calls below an order called now
    kept = ["family_confidence", "genus_confidence"]
    pd.testing.assert_frame_equal(unseen[kept], unseen_alone[kept])
    assert (unseen["order_confidence"] >= unseen_alone["order_confidence"] - 1e-4).all()
    assert runs["unseen", False].known["order"]["plate"] > 0.9
    assert unseen_alone["genus"].notna().sum() <= unseen["genus"].notna().sum()
    assert (unseen_alone["genus"].dropna() == unseen["genus"][unseen_alone["genus"].notna()]).all()
    assert (unseen["genus"].dropna() == unseen["true_genus"][unseen["genus"].notna()]).mean() >= 0.95
