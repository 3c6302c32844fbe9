"""Calibrated calls: held-out folds, the fitted models, the calibration file and its command, and the
hits in BLAST's tabular format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from search.test_identify import LIBRARY, _fasta, mutate

from bioscan_hf.cli import main
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.paths import cache_dir
from bioscan_hf.data.sources import Query
from bioscan_hf.search import identify
from bioscan_hf.search.calibration import FEATURES, Calibration, RankModel, default_calibration, fit
from bioscan_hf.search.held_out import FOLDS, cached_calibration, calibrate, held_out_folds
from bioscan_hf.search.run import BLAST6_COLUMNS


def _big_library() -> pd.DataFrame:
    """LIBRARY with each genus holding 6 species, so species can be held out with congeners left."""
    rng = np.random.default_rng(7)
    rows = []
    for g, genus in enumerate(["GenA", "GenB"]):
        root = "".join(rng.choice(list("ACGT"), 300))
        for s in range(6):
            species = mutate(root, 0.05, rng)
            for r in range(5):
                rows.append(
                    {
                        "processid": f"X{g}{s}{r}",
                        "dna_barcode": species if r < 3 else mutate(species, 0.01, rng),
                        "order": "Ord",
                        "family": "Fam",
                        "subfamily": None,
                        "genus": genus,
                        "species": f"{genus} sp{s}",
                        "dna_bin": f"BOLD:{g}{s}",
                        "country": None,
                    }
                )
    return pd.DataFrame(rows)


def test_held_out_folds_hold_species_out_whole_and_keep_a_congener() -> None:
    table = _big_library()
    folds = held_out_folds(table, queries=40, seed=0)
    assert len(folds) == FOLDS
    species_out = set()
    for removed, by_kind in folds:
        removed = set(removed.tolist())
        for rows in by_kind.values():
            assert set(rows.tolist()) <= removed  # every query is out of its fold's reference
        for row in by_kind["species"]:
            name = table["species"].iat[row]
            species_out.add(name)
            whole = set(np.flatnonzero(table["species"] == name).tolist())
            assert whole <= removed  # the whole species, not just the query
            genus = table["genus"].iat[row]
            kept = table.drop(index=list(removed))
            assert (kept["genus"] == genus).any()  # a congener stays: the genus can still be right
        assert not set(by_kind["record"].tolist()) & set(by_kind["species"].tolist())
    assert len(species_out) >= 4


def test_fit_borrows_ranks_it_cannot_calibrate_and_ranks_by_evidence() -> None:
    rng = np.random.default_rng(0)
    n = 600
    identity = rng.uniform(0.85, 1.0, n)
    inside = identity - 0.9  # the best hit against a candidate's loosest sibling identity (no spread: NaN below)
    features = np.column_stack(
        [identity, np.ones(n), np.ones(n), np.full(n, 3.0), np.full(n, 3.0), 1 - identity, inside]
    )
    right = rng.random(n) < (identity - 0.85) / 0.15  # more identity, more often right
    calibration = fit({"species": features, "genus": features[:50]}, {"species": right, "genus": right[:50]}, "t", {})
    assert "genus" in calibration.borrowed and "too few" in calibration.borrowed["genus"]
    assert calibration.ranks["genus"] is default_calibration().ranks["genus"]
    model = calibration.ranks["species"]
    assert isinstance(model, RankModel) and model.examples == n and model.right == int(right.sum())
    assert model.groups == []  # no order given: one shared category
    low, high = model.predict(np.array([[0.87, 1, 1, 3, 3, 0.13, -0.03], [0.99, 1, 1, 3, 3, 0.01, 0.09]]), [None, None])
    assert 0 <= low < high <= 1
    farther_outside = model.predict(np.array([[0.99, 1, 1, 3, 3, 0.01, -0.2]]), [None])
    assert farther_outside <= high  # monotone: lying farther outside the candidate's spread never raises it
    assert len(FEATURES) == features.shape[1]
    assert calibration.min_length == 0  # no lengths given: no query is too short


def test_a_query_shorter_than_the_calibration_saw_is_not_called() -> None:
    """The calibration's shortest query is the length all but 1% of its held-out queries reach (at most
    2/3 of their median); a query below it gets no call at any rank, and the note says why, though its
    hits are as good."""
    from bioscan_hf.search.calls import call, rank_evidence, read_candidates
    from bioscan_hf.search.engine import Identifier
    from bioscan_hf.search.references import Reference

    rng = np.random.default_rng(1)
    n = 400
    identity = rng.uniform(0.9, 1.0, n)
    no_spread = np.full(n, np.nan)  # a rank without subgroups (species): the column is never split on
    features = np.column_stack(
        [identity, np.ones(n), np.ones(n), np.full(n, 3.0), np.full(n, 3.0), 1 - identity, no_spread]
    )
    lengths = [650] * 396 + [180, 200, 210, 220]
    calibration = fit({"species": features}, {"species": rng.random(n) < identity}, "t", {}, lengths=lengths)
    assert 220 < calibration.min_length <= 650
    assert "shorter than" in calibration.report()
    table = _big_library()
    engine = Identifier(Reference(table))
    barcode = table["dna_barcode"].iat[0]
    for query, expected in ((barcode, True), (barcode[:200], False)):
        hits = engine.hits([Query("q", sequence=query)])[query]
        found = rank_evidence(engine.reference, hits)
        sure = {rank: 1.0 for rank in found}
        row = call(hits, found, sure, length=(len(query), 250))
        assert bool(row["lineage"]) is expected
        assert (row["genus_confidence"] == 1.0) is expected
        assert np.isnan(row["genus_confidence"]) is not expected  # too short: no confidence is given
        assert ("g:Gen" in row["candidates"] and "(?)" in row["candidates"]) is not expected
        read = read_candidates(row["candidates"])  # what the column says, read back
        assert read["genus"] == (row["_candidate_genus"], 1.0 if expected else None)
        assert ("the query has 200 bases, shorter than the queries" in row["note"]) is not expected
    assert fit({}, {}, "t", {}, lengths=[400] * 50).min_length == 266  # one length: 2/3 of it (partial reads)
    from bioscan_hf.search.report import reliability

    results = pd.DataFrame(
        {"true_genus": ["A", "A", "A"], "_candidate_genus": ["A", "A", "B"], "genus_confidence": [0.95, np.nan, 0.2]}
    )
    assert reliability(results, "genus")["queries"].sum() == 2  # no confidence given: in no bin


def test_a_calibration_file_round_trips_and_the_cache_fits_once(tmp_path: Path) -> None:
    table = _big_library()
    first = cached_calibration(table, queries=40, progress=False)
    files = sorted((cache_dir() / "calibration").glob("*.skops"))
    assert len(files) >= 1
    stamp = {f: f.stat().st_mtime_ns for f in files}
    again = cached_calibration(table, queries=40, progress=False)  # read from the cache, not refitted
    assert {f: f.stat().st_mtime_ns for f in files} == stamp
    x = np.array([[0.97, 1.0, 1.0, 3, 3, 0.02, np.nan]])
    assert again.ranks["species"].predict(x, ["Ord"]) == pytest.approx(first.ranks["species"].predict(x, ["Ord"]))
    first.save(tmp_path / "c.skops")
    loaded = Calibration.load(tmp_path / "c.skops")
    assert loaded.fitted_on == first.fitted_on and loaded.borrowed == first.borrowed
    assert loaded.min_length == first.min_length == 200  # every held-out query has 300 bases: 2/3 of that
    assert loaded.ranks["genus"].predict(x, ["Ord"]) == pytest.approx(first.ranks["genus"].predict(x, ["Ord"]))
    assert loaded.short.keys() == first.short.keys() == first.ranks.keys()  # short-query models kept too
    assert loaded.short["genus"].predict(x, ["Ord"]) == pytest.approx(first.short["genus"].predict(x, ["Ord"]))


def test_a_calibration_written_or_checked_once_is_read_from_the_cache_folder_after(
    tmp_path: Path, monkeypatch
) -> None:
    """A calibration saved, or read once by skops' checked loader, is kept: later loads read the kept copy
    (skops not called); a damaged copy is replaced by the file read again; another file's content is never
    served a kept copy."""
    import skops.io

    fitted = calibrate(LIBRARY, queries=20, progress=False)
    fitted.save(tmp_path / "a.skops")
    x = np.array([[0.97, 1.0, 1.0, 3, 3, 0.02, np.nan]])

    def refused(*args, **kwargs):
        raise AssertionError("skops read the file again")

    with monkeypatch.context() as patch:
        patch.setattr(skops.io, "load", refused)
        kept = Calibration.load(tmp_path / "a.skops")
    assert kept.fitted_on == fitted.fitted_on
    assert kept.ranks["genus"].predict(x, ["Ord"]) == pytest.approx(fitted.ranks["genus"].predict(x, ["Ord"]))
    copies = sorted((cache_dir() / "calibration" / "checked").glob("*.pickle"))
    newest = max(copies, key=lambda p: p.stat().st_mtime_ns)
    newest.write_bytes(b"not a pickle")  # damaged: read from the file by skops, and kept again
    assert Calibration.load(tmp_path / "a.skops").fitted_on == fitted.fitted_on
    assert newest.read_bytes() != b"not a pickle"
    with monkeypatch.context() as patch:
        patch.setattr(skops.io, "load", refused)
        assert Calibration.load(tmp_path / "a.skops").fitted_on == fitted.fitted_on
    other = calibrate(_big_library(), queries=40, progress=False)
    (tmp_path / "b.skops").write_bytes((tmp_path / "a.skops").read_bytes())
    assert Calibration.load(tmp_path / "b.skops").fitted_on == fitted.fitted_on  # named by content, not by path
    (tmp_path / "a.skops").unlink()
    other.save(tmp_path / "a.skops")  # the same name, other content
    assert Calibration.load(tmp_path / "a.skops").fitted_on == other.fitted_on != fitted.fitted_on


def test_short_queries_take_the_models_fitted_on_windows() -> None:
    """Held-out queries are identified again cut to windows of 150–450 bases at random places; a query under
    the calibration's `min_length` is scored by the models fitted on those (a best hit at 97% over 200 bases
    is less telling than over 650), and one under the shortest window is not called."""
    from bioscan_hf.search.calibration import WINDOW
    from bioscan_hf.search.calls import confidences, rank_evidence
    from bioscan_hf.search.engine import Identifier
    from bioscan_hf.search.held_out import _window
    from bioscan_hf.search.references import Reference

    rng = np.random.default_rng(0)
    barcode = "".join(rng.choice(list("ACGT"), 658))
    query = Query("q", sequence="--" + barcode + "NN", truth={"genus": "G"})
    windows = [_window(query, rng) for _ in range(200)]
    assert all(WINDOW[0] <= len(w.sequence) <= WINDOW[1] and w.sequence in barcode for w in windows)
    assert len({w.sequence[:20] for w in windows}) > 150 and all(w.truth == query.truth for w in windows)

    n = 400
    identity = rng.uniform(0.9, 1.0, n)
    features = np.column_stack([identity, np.ones(n), np.ones(n), np.full(n, 3.0), np.full(n, 3.0), 1 - identity])
    features = np.column_stack([features, np.full(n, np.nan)])
    full_right, short_right = rng.random(n) < identity, rng.random(n) < (identity - 0.9) * 5  # windows: less sure
    calibration = fit(
        {"genus": features},
        {"genus": full_right},
        "t",
        {},
        lengths=[650] * n,
        short=({"genus": features}, {"genus": short_right}, {"genus": [None] * n}),
    )
    assert calibration.short["genus"].examples == n and calibration.shortest() == WINDOW[0]
    assert "cut to 150–450 bases" in calibration.report() and "genus (short queries)" in calibration.report()
    table = _big_library()
    engine = Identifier(Reference(table))
    sequence = table["dna_barcode"].iat[0]
    found = rank_evidence(engine.reference, engine.hits([Query("q", sequence=sequence)])[sequence])
    (as_full, as_short) = confidences(calibration, [found, found], [False, True])
    assert as_full["genus"] == calibration.probabilities("genus", [found["genus"]])[0]
    assert as_short["genus"] == calibration.probabilities("genus", [found["genus"]], short=True)[0]
    assert as_short["genus"] < as_full["genus"]


@pytest.mark.damaged_input
def test_a_damaged_or_foreign_calibration_file_is_refused(tmp_path: Path) -> None:
    """A truncated file, a JSON file and a zip holding another type are refused with the file named; a
    calibration never runs code it does not trust (skops' loader)."""
    good = tmp_path / "good.skops"
    calibrate(LIBRARY, queries=20, progress=False).save(good)
    truncated = tmp_path / "truncated.skops"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    other = tmp_path / "other.skops"
    other.write_text(json.dumps({"format": 1}))
    import skops.io
    from sklearn.linear_model import LogisticRegression

    foreign = tmp_path / "foreign.skops"
    skops.io.dump(
        {"format": 1, "features": list(FEATURES), "ranks": {"genus": {"model": LogisticRegression()}}}, foreign
    )
    checked = cache_dir() / "calibration" / "checked"
    kept = set(checked.glob("*.pickle"))
    for path in (truncated, other, foreign):
        with pytest.raises(
            InputError, match=rf"{path.name}: not a calibration this version reads .*bioscan-hf calibrate"
        ):
            Calibration.load(path)
    assert set(checked.glob("*.pickle")) == kept  # nothing refused is kept
    reference = _fasta(tmp_path / "ref.fasta", LIBRARY, lambda r: f"{r.processid}|{r.species}|COI-5P|{r.dna_bin}")
    queries = _fasta(tmp_path / "q.fasta", LIBRARY.iloc[::8], lambda r: f"q{r.processid}")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InputError, match="truncated.skops: not a calibration"):
        identify(queries, reference, tmp_path / "calls.tsv", calibration=truncated, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.damaged_input
def test_calibrate_command_writes_a_file_identify_reads_and_never_replaces_another(tmp_path: Path, capsys) -> None:
    reference = _fasta(tmp_path / "ref.fasta", LIBRARY, lambda r: f"{r.processid}|{r.species}|COI-5P|{r.dna_bin}")
    mine = tmp_path / "notes.skops"
    mine.write_text("my notes\n")
    assert main(["calibrate", str(reference), "--out", str(mine), "--queries", "20"]) == 1
    assert "exists and was not written by bioscan-hf calibrate" in capsys.readouterr().err
    assert mine.read_text() == "my notes\n"
    out = tmp_path / "lib.skops"
    assert main(["calibrate", str(reference), "--out", str(out), "--queries", "20"]) == 0
    printed = capsys.readouterr().out
    assert "calibration fitted on reference" in printed and "the default's model (" in printed
    assert "held-out candidates" not in printed  # every count says what it counts: held-out queries
    assert f"--calibration {out}" in printed
    assert main(["calibrate", str(reference), "--out", str(out), "--queries", "20", "--seed", "1"]) == 0  # its own
    queries = _fasta(tmp_path / "q.fasta", LIBRARY.iloc[::4], lambda r: f"q{r.processid}")
    calls = tmp_path / "calls.tsv"
    args = ["identify", str(queries), "--reference", str(reference), "--out", str(calls), "--calibration", str(out)]
    assert main([*args, "--outfmt", "blast6", "--top-k", "2"]) == 0
    provenance = json.loads((tmp_path / "calls.provenance.json").read_text())
    assert provenance["calibration"] == str(out) and len(provenance["calibration_content"]) == 16
    # the hits in BLAST's tabular format: 12 columns, no header, the same hits as the table
    blast6 = pd.read_csv(tmp_path / "calls.hits.blast6", sep="\t", header=None, names=list(BLAST6_COLUMNS))
    assert len(blast6) == 2 * len(LIBRARY.iloc[::4]) and not (tmp_path / "calls.hits.tsv").exists()
    first = blast6.iloc[0]
    assert first["query"] == "qP0000" and first["sseqid"] == "P0000" and first["pident"] == 100.0
    assert (first["length"], first["mismatch"], first["gapopen"], first["qstart"], first["sstart"]) == (400, 0, 0, 1, 1)
    assert first["evalue"] < 1e-100 and first["bitscore"] > 700
    assert (
        main([*args, "--outfmt", "xml"]) == 1
        and "--outfmt 'xml': expected one of table, blast6" in capsys.readouterr().err
    )


def test_labelled_fasta_queries_are_scored_with_reliability_plots(tmp_path: Path) -> None:
    """Queries whose FASTA headers carry a SINTAX lineage are scored like a dataset split: coverage,
    accuracy, over-classification and calibration error per rank, and the reliability figure."""
    reference = _fasta(tmp_path / "ref.fasta", LIBRARY, lambda r: f"{r.processid}|{r.species}|COI-5P|{r.dna_bin}")
    queries = _fasta(
        tmp_path / "q.fasta",
        LIBRARY.iloc[::3],
        lambda r: f"q{r.processid};tax=o:{r.order},f:{r.family},g:{r.genus},s:{r.species.replace(' ', '_')};",
    )
    run = identify(queries, reference, tmp_path / "calls.tsv", progress=False)
    assert run.results["true_species"].notna().all() and run.results["true_species"].iat[0] == "Gen00 sp0"
    species = {s["rank"]: s for s in run.summary}["species"]
    assert species["queries"] == len(LIBRARY.iloc[::3]) and "expected_calibration_error" in species
    assert species["queries_absent_from_reference"] == 0  # the reference holds every species
    assert (tmp_path / "calls.reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert "calibration error" in run.report()
