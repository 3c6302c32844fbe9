"""The audit: barcode QC, BAGS grades against a straightforward implementation, planted errors in a
generated library (each found in its category), outputs, damaged input, and --exclude in prepare and
import-bold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data.test_bold import HEADER  # the BOLD combined export's columns

from bioscan_hf.audit import audit, bags_grades
from bioscan_hf.audit.findings import Finding, combine
from bioscan_hf.audit.qc import END_MARGIN, barcode_findings, frameshift, stop_codons
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.outputs import OutputFolderError
from bioscan_hf.data.exclusions import exclusions, read_suspects
from bioscan_hf.search.references import Reference

CODONS = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in ("TAA", "TAG")]


def in_frame(sequence: str) -> str:
    """`sequence` with its in-frame stops (TAA, TAG) turned into CAA/CAG, as a coding barcode reads."""
    codons = [sequence[i : i + 3] for i in range(0, len(sequence), 3)]
    return "".join("C" + c[1:] if c in ("TAA", "TAG") else c for c in codons)


def mutate(sequence: str, fraction: float, rng: np.random.Generator) -> str:
    bases = list(sequence)
    for i in rng.choice(len(bases), int(round(fraction * len(bases))), replace=False):
        bases[i] = rng.choice([b for b in "ACGT" if b != bases[i]])
    return in_frame("".join(bases))


def library_rows(seed: int = 0) -> list[dict]:
    """Two orders × two families × two genera × three species × five records (two haplotypes), 450-nt
    coding barcodes: species 6% apart, genera 12%, families 20%, orders unrelated; one BIN per species."""
    rng = np.random.default_rng(seed)
    rows = []
    for o, order in enumerate(("Diptera", "Coleoptera")):
        root = "".join(rng.choice(CODONS, 150))
        for f in range(2):
            family = mutate(root, 0.20, rng)
            for g in range(2):
                genus = mutate(family, 0.12, rng)
                for s in range(3):
                    species = mutate(genus, 0.06, rng)
                    haplotype = mutate(species, 0.005, rng)
                    for r in range(5):
                        rows.append(
                            {
                                "processid": f"P{o}{f}{g}{s}{r}",
                                "bin_uri": f"BOLD:A{o}{f}{g}{s}",
                                "order_name": order,
                                "family_name": f"{order[:4]}{f}idae",
                                "subfamily_name": "",
                                "genus_name": f"Gen{o}{f}{g}",
                                "species_name": f"Gen{o}{f}{g} sp{s}",
                                "nucleotides": species if r < 3 else haplotype,
                            }
                        )
    return rows


def write_bold(path: Path, rows: list[dict]) -> Path:
    lines = ["\t".join(HEADER)]
    for row in rows:
        full = {"sampleid": "S" + row["processid"], "phylum_name": "Arthropoda", "class_name": "Insecta"}
        full.update(country="Canada", markercode="COI-5P", **row)
        lines.append("\t".join(full.get(c, "") for c in HEADER))
    path.write_text("\n".join(lines) + "\n")
    return path


def planted_library(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The library with one error of each kind planted; processid → kind."""
    rng = np.random.default_rng(5)
    rows = library_rows()
    by_id = {r["processid"]: r for r in rows}
    by_id["P00000"].update(genus_name="Gen001", species_name="Gen001 sp0")  # genus swap within the family
    by_id["P01100"].update(
        order_name="Coleoptera", family_name="Cole0idae", genus_name="Gen100", species_name="Gen100 sp1"
    )  # order swap
    by_id["P10010"]["nucleotides"] = by_id["P00120"]["nucleotides"]  # a Diptera barcode filed under Coleoptera
    seq = by_id["P10120"]["nucleotides"]
    by_id["P10120"]["nucleotides"] = seq[:200] + "A" + seq[200:]  # frameshift
    seq = list(by_id["P11120"]["nucleotides"])
    for i in rng.choice(len(seq), 12, replace=False):
        seq[i] = "N"
    by_id["P11120"]["nucleotides"] = "".join(seq)  # 2.7% ambiguous
    kinds = {
        "P00000": "genus_swap",
        "P01100": "order_swap",
        "P10010": "foreign_barcode",
        "P10120": "frameshift",
        "P11120": "ambiguous",
    }
    return write_bold(tmp_path / "library.tsv", rows), kinds


# --- barcode QC ----------------------------------------------------------------------------------------


def test_stop_codons_are_those_of_the_invertebrate_mitochondrial_code() -> None:
    frames = stop_codons("TAAxTAGxTGAxAGAxAGG")
    assert [list(f) for f in frames] == [[0], [4], []]  # TGA (W), AGA/AGG (S) are not stops in code 5
    assert [list(f) for f in stop_codons("CTAG")] == [[], [1], []]


def test_frameshift_ambiguity_and_fragment_findings() -> None:
    rng = np.random.default_rng(3)
    coding = "".join(rng.choice(CODONS, 200))
    assert barcode_findings(0, coding, [600, 600]) == []
    shifted = coding[:300] + "G" + coding[300:]
    (found,) = barcode_findings(7, shifted)
    assert (found.row, found.category, found.rank) == (7, "barcode_qc", None)
    assert "frameshift" in found.evidence and "three frames" in found.evidence
    # stops only within the last END_MARGIN bases (a ragged read end) are not a frameshift
    ragged = coding + "G" + "TAA" * ((END_MARGIN - 1) // 3)
    assert frameshift(ragged) is None
    ambiguous = list(coding)
    for i in rng.choice(len(ambiguous), 15, replace=False):
        ambiguous[i] = "N"
    (found,) = barcode_findings(1, "".join(ambiguous))
    assert found.evidence.startswith("ambiguous bases: 15 of 600 (2.5%")
    assert 0.8 < found.score < 0.95
    (found,) = barcode_findings(2, coding[:270], [600, 610, 590])
    assert found.evidence.startswith("fragment: 270 bases") and found.score < 0.8
    assert barcode_findings(2, coding[:310], [600]) == []  # over half its neighbours' length


def test_combine_names_the_most_specific_finding_and_the_others() -> None:
    combined = combine(
        [
            Finding(3, "bin_discordance", 0.7, "species", "A b", "A c", "BIN X holds 3"),
            Finding(3, "label_conflict", 0.9, "genus", "A", "B", "2 of 2 say B"),
            Finding(4, "barcode_qc", 0.95, None, None, None, "frameshift: stops"),
            Finding(5, "bin_discordance", 0.98, "order", "X", "Y", "BIN Z holds 40"),
            Finding(5, "contamination", 0.9, "order", "X", "Y", "9 of 9 say Y"),
            Finding(6, "bin_discordance", 0.45, "species", "A b", "A c", "BIN W holds 2"),
            Finding(6, "barcode_qc", 0.4, None, None, None, "fragment: 200 bases"),
        ]
    )
    assert combined[3].category == "label_conflict"
    assert combined[3].evidence == "2 of 2 say B. Also: bin_discordance 0.70 (species A b → A c)"
    assert combined[3].score == 0.9
    assert combined[4].evidence == "frameshift: stops"
    # a foreign barcode explains its BIN's discordance: the specific category, the record's highest score
    assert (combined[5].category, combined[5].score) == ("contamination", 0.98)
    assert (combined[6].category, combined[6].score) == ("bin_discordance", 0.45)  # below 0.5: the most certain


def test_votes_leave_one_record_out() -> None:
    table = pd.DataFrame(
        {
            "processid": ["a", "b", "c"],
            "dna_barcode": ["ACGT", "ACGT", "ACGT"],
            **{r: ["X", "Y", "Y"] for r in ("order", "family", "subfamily", "genus", "species")},
            "dna_bin": [None] * 3,
            "country": [None] * 3,
        }
    )
    reference = Reference(table)
    assert reference.vote([0], "genus") == ("Y", 2, 3)
    assert reference.vote([0], "genus", without=1) == ("X", 1, 2)  # a tie: the label met first
    assert reference.vote([0], "genus", without=0) == ("Y", 2, 2)
    assert reference.key_label(0, "genus") == "Y"
    assert reference.key_label(0, "genus", without=2) == "X"


# --- BAGS ----------------------------------------------------------------------------------------------


def straightforward_bags(records: list[tuple[str | None, str | None]]) -> dict[str, tuple[str, int, int, str]]:
    """BAGS by the rules as written, one species at a time: (grade, records, BINs, sharing species)."""
    result = {}
    for species in sorted({s for s, _ in records if s is not None}):
        mine = [b for s, b in records if s == species]
        bins = sorted({b for b in mine if b is not None})
        others = sorted({s for s, b in records if b in bins and s is not None and s != species})
        if not bins:
            grade = "-"
        elif others:
            grade = "E"
        elif len(bins) > 1:
            grade = "C"
        elif len(mine) > 10:
            grade = "A"
        elif 3 <= len(mine) <= 10:
            grade = "B"
        else:
            grade = "D"
        result[species] = (grade, len(mine), len(bins), ",".join(others))
    return result


def test_bags_grades_equal_the_rules_as_written() -> None:
    records = (
        [("eleven", "B1")] * 11  # A (just over 10)
        + [("ten", "B2")] * 10  # B (10 is still B)
        + [("three", "B3")] * 3  # B
        + [("two", "B4")] * 2  # D
        + [("one", "B5")]  # D
        + [("split", "B6")] * 12
        + [("split", "B7")]  # C, however many records
        + [("shared", "B8")] * 20
        + [("sharer", "B8")]  # E both (a BIN of each holds the other)
        + [("split_and_shared", "B9"), ("split_and_shared", "B10"), ("other", "B10")] * 2  # E beats C
        + [("nobin", None)] * 4  # not graded
        + [("part", "B11")] * 2
        + [("part", None)] * 2  # counts every record labelled: 4 → B
        + [(None, "B12"), ("alone", "B12")]  # an unlabelled record is not another species: D
    )
    table = pd.DataFrame(records, columns=["species", "dna_bin"])
    grades = bags_grades(table)
    got = {
        row.species: (row.grade, row.records, row.bins, row.shares_bins_with) for row in grades.itertuples(index=False)
    }
    assert got == straightforward_bags(records)
    assert got["eleven"][0] == "A" and got["ten"][0] == "B" and got["two"][0] == "D" and got["split"][0] == "C"
    assert got["shared"][0] == got["sharer"][0] == got["split_and_shared"][0] == "E"
    assert got["nobin"][0] == "-" and got["part"] == ("B", 4, 1, "") and got["alone"][0] == "D"


# --- the audit on planted errors ---------------------------------------------------------------------


def test_audit_finds_each_planted_error_in_its_category(tmp_path: Path) -> None:
    library, kinds = planted_library(tmp_path)
    result = audit(library, tmp_path / "suspects.tsv", progress=False)
    suspects = pd.read_csv(tmp_path / "suspects.tsv", sep="\t", keep_default_na=False)
    assert list(suspects.columns) == [*result.suspects.columns]
    found = suspects.set_index("processid")
    expected = {
        "genus_swap": ("label_conflict", "genus", "Gen001", "Gen000"),
        "order_swap": ("contamination", "order", "Coleoptera", "Diptera"),
        "foreign_barcode": ("contamination", "order", "Coleoptera", "Diptera"),
    }
    for pid, kind in kinds.items():
        assert pid in found.index, f"{kind} ({pid}) not found"
        row = found.loc[pid]
        if kind in expected:
            assert (row["category"], row["rank"], row["label"], row["suggested"]) == expected[kind], kind
            assert row["score"] >= 0.9
        else:
            assert row["category"] == "barcode_qc"
            assert row["evidence"].startswith("frameshift" if kind == "frameshift" else "ambiguous bases")
    # the planted errors are the most certain suspects, and each row points at the record's line
    assert set(suspects["processid"].iloc[: len(kinds)]) == set(kinds)
    lines = library.read_text().splitlines()
    for pid, line in zip(suspects["processid"], suspects["line"]):
        assert lines[int(line) - 1].startswith(pid + "\t")
    assert "Gen000" in found.loc["P00000", "evidence"] and "%" in found.loc["P00000", "evidence"]
    assert (
        "no Coleoptera record" in found.loc["P10010", "evidence"]
        or "nearest Coleoptera" in found.loc["P10010", "evidence"]
    )
    # the order swap also left its BIN: the evidence names that too
    assert "bin_discordance" in found.loc["P01100", "evidence"]
    # outputs beside the table: grades, summary, plot
    summary = json.loads((tmp_path / "suspects.summary.json").read_text())
    assert summary["suspects"] == len(suspects)
    assert (
        summary["by_category"]
        == suspects["category"].value_counts().reindex(summary["by_category"].keys(), fill_value=0).to_dict()
    )
    assert summary["records"] == summary["audited"] == 120
    grades = pd.read_csv(tmp_path / "suspects.bags.tsv", sep="\t", keep_default_na=False)
    assert len(grades) == 24 + 0  # the swapped records carry names of species already present
    assert set(grades.loc[grades["species"] == "Gen001 sp0", "grade"]) == {"E"}  # shares its BIN now
    assert (tmp_path / "suspects.png").stat().st_size > 10_000
    report = result.report()
    assert f"{len(suspects)} suspects" in report and "Diptera" in report


def test_records_sharing_a_barcode_and_a_wrong_label_never_cite_themselves(tmp_path: Path) -> None:
    rows = library_rows()
    for row in rows[:2]:  # P00000 and P00001 carry one barcode (with P00002): both filed under another genus
        row.update(genus_name="Gen001", species_name="Gen001 sp0")
    result = audit(write_bold(tmp_path / "pair.tsv", rows), tmp_path / "pair.suspects.tsv", progress=False)
    found = result.suspects.set_index("processid")
    for pid, other in (("P00000", "P00001"), ("P00001", "P00000")):
        assert (found.loc[pid, "rank"], found.loc[pid, "suggested"]) == ("genus", "Gen000")
        nearest = found.loc[pid, "evidence"].split("nearest: ")[1]
        assert pid not in nearest and (other in nearest or "P00002" in nearest)


def test_audit_within_a_taxon_compares_with_the_whole_library(tmp_path: Path) -> None:
    library, kinds = planted_library(tmp_path)
    result = audit(library, tmp_path / "coleoptera.tsv", within="Coleoptera", progress=False)
    assert result.summary["audited"] == 60 + 1  # the order-swapped Diptera record is labelled Coleoptera
    found = set(result.suspects["processid"])
    assert {"P01100", "P10010", "P10120", "P11120"} <= found and "P00000" not in found
    assert set(result.suspects["order"]) == {"Coleoptera"}
    with pytest.raises(InputError, match="within 'Odonata'"):
        audit(library, tmp_path / "none.tsv", within="Odonata", progress=False)


def test_audit_of_a_clean_library_without_bins_and_of_one_species(tmp_path: Path) -> None:
    rows = library_rows()
    for row in rows:
        row["bin_uri"] = ""
    result = audit(write_bold(tmp_path / "nobins.tsv", rows), tmp_path / "nobins.suspects.tsv", progress=False)
    assert len(result.suspects) == 0
    assert any("no record carries a BIN" in note for note in result.summary["notes"])
    assert set(result.grades["grade"]) == {"-"}
    one = [r for r in library_rows() if r["species_name"] == "Gen000 sp0"]
    seq = one[0]["nucleotides"]
    one[0]["nucleotides"] = seq[:200] + "A" + seq[200:]
    result = audit(write_bold(tmp_path / "one.tsv", one), tmp_path / "one.suspects.tsv", progress=False)
    assert any("nothing to compare labels with" in note for note in result.summary["notes"])
    assert list(result.suspects["category"]) == ["barcode_qc"]  # its barcodes are still checked
    assert "nothing to compare" in result.report()


@pytest.mark.damaged_input
def test_audit_bad_input_is_named_or_skipped_and_listed(tmp_path: Path) -> None:
    rows = library_rows()
    rows[7]["nucleotides"] = rows[7]["nucleotides"][:50] + "X" + rows[7]["nucleotides"][50:]
    library = write_bold(tmp_path / "bad.tsv", rows)
    with pytest.raises(InputError, match=r"bad\.tsv line 9 \(P00012\): not DNA: 'X' at position 50"):
        audit(library, tmp_path / "out.tsv", progress=False)
    assert not list(tmp_path.glob("out*"))  # nothing written
    skipped = audit(library, tmp_path / "out.tsv", skip_bad=True, progress=False)
    listed = pd.read_csv(tmp_path / "out.skipped.tsv", sep="\t")
    assert list(listed["record"]) == ["P00012"] and list(listed["line"]) == [9]
    assert skipped.summary["records"] == 119 and skipped.summary["skipped"] == 1
    clean = audit(write_bold(tmp_path / "clean.tsv", library_rows()), tmp_path / "clean.out.tsv", progress=False)
    assert skipped.suspects.drop(columns="line").equals(clean.suspects.drop(columns="line"))


@pytest.mark.damaged_input
def test_audit_replaces_only_its_own_files(tmp_path: Path) -> None:
    library = write_bold(tmp_path / "lib.tsv", library_rows())
    mine = tmp_path / "suspects.bags.tsv"
    mine.write_text("my own notes\n")
    with pytest.raises(OutputFolderError, match="not written by bioscan-hf audit"):
        audit(library, tmp_path / "suspects.tsv", progress=False)
    assert mine.read_text() == "my own notes\n" and not (tmp_path / "suspects.tsv").exists()
    audit(library, tmp_path / "suspects.tsv", progress=False, overwrite=True)
    assert mine.read_text().startswith("species\tgrade")
    audit(library, tmp_path / "suspects.tsv", progress=False)  # its own files: replaced without --overwrite
    with pytest.raises(InputError, match="must end in"):
        audit(library, tmp_path / "suspects.txt", progress=False)


# --- curated releases: --exclude ----------------------------------------------------------------------


@pytest.mark.damaged_input
def test_suspects_file_is_read_with_a_floor_and_damage_is_named(tmp_path: Path) -> None:
    path = tmp_path / "s.tsv"
    path.write_text("processid\tcategory\tscore\nA1\tbarcode_qc\t0.95\nA2\tbin_discordance\t0.6\n")
    assert exclusions(path, 0.9) == {"A1": f"barcode_qc (score 0.95) in {path}"}
    assert list(read_suspects(path)["processid"]) == ["A1", "A2"]
    path.write_text("processid\tcategory\tscore\nA1\tbarcode_qc\t0.95\nA2\tbin_discordance\thigh\n")
    with pytest.raises(InputError, match=r"s\.tsv line 3 \(A2\): score 'high' is not a number"):
        read_suspects(path)
    path.write_text("id\tscore\nA1\t0.9\n")
    with pytest.raises(InputError, match="no processid, category column"):
        read_suspects(path)


@pytest.mark.damaged_input
def test_import_bold_exclude_keeps_every_other_record_as_it_was(tmp_path: Path) -> None:
    from bioscan_hf.data.bold import BoldError, import_bold
    from bioscan_hf.data.metadata import read_metadata
    from bioscan_hf.data.schema import METADATA_ZIP_NAME

    library, kinds = planted_library(tmp_path)
    audit(library, tmp_path / "suspects.tsv", progress=False)
    excluded = exclusions(tmp_path / "suspects.tsv", 0.5)
    assert set(kinds) <= set(excluded)
    whole = import_bold([library], tmp_path / "whole", undescribed_fraction=0.3)
    curated = import_bold([library], tmp_path / "curated", undescribed_fraction=0.3, exclude=excluded)
    before = read_metadata(tmp_path / "whole" / METADATA_ZIP_NAME).to_pandas().set_index("processid")
    after = read_metadata(tmp_path / "curated" / METADATA_ZIP_NAME).to_pandas().set_index("processid")
    assert set(before.index) - set(after.index) == set(excluded)
    assert after.equals(before.drop(index=list(excluded)))  # every other record, split included, unchanged
    assert curated.rows_written == whole.rows_written - len(excluded)
    report = (tmp_path / "curated" / "import_report.tsv").read_text()
    assert all(f"{pid}\texcluded\t" in report for pid in excluded)
    with pytest.raises(BoldError, match="not usable records of these exports"):
        import_bold([library], tmp_path / "other", exclude={"NOT-HERE": "test"})
    assert not (tmp_path / "other").exists()


@pytest.mark.damaged_input
def test_prepare_exclude_lists_the_records_and_changes_nothing_else(
    sample_release: Path, prepared: Path, tmp_path: Path
) -> None:
    from datasets import load_dataset

    from bioscan_hf.data.publish import PrepareError, prepare

    whole = load_dataset(str(prepared), "metadata")
    ids = [whole["train"][0]["processid"], whole["test"][3]["processid"]]
    suspects = tmp_path / "suspects.tsv"
    suspects.write_text(f"processid\tcategory\tscore\n{ids[0]}\tbarcode_qc\t0.95\n{ids[1]}\tlabel_conflict\t0.7\n")
    out = tmp_path / "curated"
    summary = prepare(sample_release, out, configs=["metadata"], exclude=exclusions(suspects, 0.5))
    assert list(summary["excluded"]["processid"]) == ids and not summary["warnings"]
    listed = pd.read_csv(out / "excluded_records.tsv", sep="\t")
    assert list(listed["split"]) == ["train", "test"] and listed["reason"].str.contains("score").all()
    assert "2 record(s) left out on purpose" in (out / "README.md").read_text()
    curated = load_dataset(str(out), "metadata")
    for split in whole:
        kept = whole[split].filter(lambda r: r["processid"] not in ids)
        assert curated[split].to_pandas().equals(kept.to_pandas())
    # a list for another library is refused before anything is built
    suspects.write_text("processid\tcategory\tscore\nELSEWHERE-1\tbarcode_qc\t0.95\n")
    with pytest.raises(PrepareError, match="not in .*ELSEWHERE-1"):
        prepare(sample_release, tmp_path / "other", configs=["metadata"], exclude=exclusions(suspects, 0.5))
    assert not (tmp_path / "other").exists()


def test_command_line_audit_then_import_bold_exclude(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from bioscan_hf.cli import main

    library, kinds = planted_library(tmp_path)
    out = tmp_path / "suspects.tsv"
    assert main(["audit", str(library), "--out", str(out), "--min-score", "0.9", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "suspects with score ≥ 0.9" in printed and f"--exclude {out}" in printed
    assert main(["import-bold", str(library), "--out", str(tmp_path / "curated"), "--exclude", str(out)]) == 0
    assert "records excluded on purpose (listed in the report file): " in capsys.readouterr().out
    assert main(["audit", str(library), "--out", str(tmp_path / "s.txt")]) == 1
    assert "must end in .tsv, .csv, .parquet" in capsys.readouterr().err


def test_sintax_fasta_library_names_each_suspect_by_its_header_line(tmp_path: Path) -> None:
    library, kinds = planted_library(tmp_path)
    table = pd.read_csv(library, sep="\t", dtype=str, keep_default_na=False)
    fasta = tmp_path / "library.fasta"
    with open(fasta, "w") as handle:
        for row in table.itertuples(index=False):
            lineage = f"o:{row.order_name},f:{row.family_name},g:{row.genus_name},s:{row.species_name}"
            handle.write(f">{row.processid};tax={lineage.replace(' ', '_')};\n")
            handle.write(f"{row.nucleotides[:200]}\n{row.nucleotides[200:]}\n")  # wrapped: 3 lines a record
    result = audit(fasta, tmp_path / "fasta.suspects.tsv", progress=False)
    found = result.suspects.set_index("processid")
    assert set(kinds) <= set(found.index)
    assert found.loc["P00000", "rank"] == "genus" and found.loc["P10010", "category"] == "contamination"
    lines = fasta.read_text().splitlines()
    for pid, line in found["line"].items():
        assert lines[int(line) - 1].startswith(f">{pid};")
    assert len(result.grades) == 24 and set(result.grades["grade"]) == {"-"}  # SINTAX headers carry no BIN


def test_a_short_record_is_scored_by_the_short_query_models(tmp_path: Path) -> None:
    """A record shorter than the calibration's `min_length` is judged by its short-query models (as identify
    judges a short query); a full-length one by the full-length models."""
    from bioscan_hf.audit.neighbours import label_findings
    from bioscan_hf.audit.run import _hits
    from bioscan_hf.search.references import Reference, read_references

    rows = library_rows()
    for row in (rows[0], rows[5]):  # P00000 (cut to 300 bases) and P00010 (whole): both filed under Gen001
        row.update(genus_name="Gen001", species_name="Gen001 sp0")
    rows[0]["nucleotides"] = rows[0]["nucleotides"][:300]

    class ByLength:  # the two sets of models told apart by what they say
        min_length = 400

        def probabilities(self, rank: str, evidence: list, short: bool = False) -> np.ndarray:
            return np.full(len(evidence), 0.99 if short else 0.5)

    table = read_references(write_bold(tmp_path / "library.tsv", rows), None)
    reference, everything = Reference(table), np.arange(len(table))
    hits = _hits(reference, everything, 200, 1, False)
    findings = label_findings(reference, everything, hits, ByLength(), progress=False)
    score = {table["processid"].iat[f.row]: f.score for f in findings}
    assert score["P00000"] == 0.99 and score["P00010"] == 0.5


def test_labels_judged_in_batches_give_the_same_findings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups are judged `JUDGED_AT_ONCE` at a time (their hits dropped after): any batch size, the same
    findings in the same order, the last partial batch included."""
    from bioscan_hf.audit import neighbours
    from bioscan_hf.audit.run import _hits
    from bioscan_hf.search.references import Reference, read_references

    class ByIdentity:  # a probability that differs from query to query
        min_length = 400

        def probabilities(self, rank: str, evidence: list, short: bool = False) -> np.ndarray:
            return np.asarray([min(0.99, e.identity) for e in evidence])

    library, kinds = planted_library(tmp_path)
    table = read_references(library, None)
    reference, everything = Reference(table), np.arange(len(table))
    hits = _hits(reference, everything, 200, 1, False)
    whole = neighbours.label_findings(reference, everything, hits, ByIdentity(), progress=False)
    assert {table["processid"].iat[f.row] for f in whole} >= {"P00000", "P01100", "P10010"}  # the label errors
    for size in (1, 7):
        monkeypatch.setattr(neighbours, "JUDGED_AT_ONCE", size)
        assert neighbours.label_findings(reference, everything, hits, ByIdentity(), progress=False) == whole
