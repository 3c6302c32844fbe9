"""BOLD import on the real export and on hand-made bad rows."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pyarrow.compute as pc
import pytest

from bioscan_hf.cli import main
from bioscan_hf.core.barcodes import barcode_key, barcode_problem
from bioscan_hf.data.bold import REQUIRED_COLUMNS, BoldError, clean_barcode, import_bold
from bioscan_hf.data.metadata import read_metadata
from bioscan_hf.data.schema import METADATA_ZIP_NAME, is_placeholder_species

HEADER = [
    "processid",
    "sampleid",
    "bin_uri",
    "phylum_name",
    "class_name",
    "order_name",
    "family_name",
    "subfamily_name",
    "genus_name",
    "species_name",
    "country",
    "province",
    "lat",
    "lon",
    "markercode",
    "nucleotides",
]


def _tsv(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("\n".join("\t".join(r) for r in [HEADER, *rows]) + "\n")
    return path


def _row(pid: str, species: str = "Tuta absoluta", marker: str = "COI-5P", seq: str = "ACGT" * 20) -> list[str]:
    return [
        pid,
        "S" + pid,
        "BOLD:AAA0001",
        "Arthropoda",
        "Insecta",
        "Lepidoptera",
        "Gelechiidae",
        "",
        "Tuta",
        species,
        "Egypt",
        " ",
        "30.2",
        "31.5",
        marker,
        seq,
    ]


def test_barcode_policy() -> None:
    assert clean_barcode("acg-t ry\n") == "ACGTNN"
    assert barcode_key("acgtn-NN\n") == "ACGT" and barcode_key("NNACGT") == "NNACGT"  # trailing padding only
    assert barcode_problem(None) == barcode_problem("") == "empty barcode"
    assert barcode_problem("-- NN\n") == "empty barcode (nothing but gaps, whitespace or N)"
    assert barcode_problem("ACGTU") is None and barcode_problem("acgtryk") is None
    assert barcode_problem("ACGT!") == "not DNA: '!' at position 4 ('ACGT!')"
    assert barcode_problem("Z" * 24) == f"not DNA: 'Z' at position 0 ('{'Z' * 24}')"  # 24 shown whole
    assert barcode_problem("Z" * 25) == f"not DNA: 'Z' at position 0 ('{'Z' * 24}…')"


@pytest.mark.damaged_input
def test_every_usable_row_is_kept_and_the_rest_reported(tmp_path: Path) -> None:
    rows = [_row(f"P{i}") for i in range(10)]
    rows += [_row("M1", marker="COI-3P"), _row("E1", seq=""), _row("P3"), ["SHORT", "x"]]
    report = import_bold([_tsv(tmp_path / "a.tsv", rows)], tmp_path / "out", undescribed_fraction=0.0)
    assert report.rows_read == 14 and report.rows_written == 10
    reasons = dict(report.unusable)
    assert set(reasons) == {"M1", "E1", "P3", "SHORT"}
    assert "COI-3P" in reasons["M1"] and "duplicate" in reasons["P3"] and "malformed" in reasons["SHORT"]
    table = read_metadata(tmp_path / "out" / METADATA_ZIP_NAME).to_pylist()
    assert table[0]["subfamily"] == "unassigned Gelechiidae"  # BIOSCAN's fill for a described genus
    assert table[0]["province_state"] is None and table[0]["coord-lat"] == 30.2
    assert "M1\t" in (tmp_path / "out" / "import_report.tsv").read_text()


def test_a_bcdm_export_reads_as_the_combined_one(tmp_path: Path) -> None:
    """BOLD's portal and data packages write BCDM names (`nuc`, `marker_code`, `species`, `coord`): the same
    records, read the same way, by import-bold and by identify/audit's reader."""
    from bioscan_hf.data.sources import is_bold_tsv

    rows = [_row(f"P{i}") for i in range(5)] + [_row("M1", marker="COI-3P")]
    combined = _tsv(tmp_path / "combined.tsv", rows)
    bcdm_names = {"nucleotides": "nuc", "markercode": "marker_code", "country": "country/ocean"}
    bcdm_names |= {column: column.removesuffix("_name") for column in HEADER if column.endswith("_name")}
    keep = [c for c in HEADER if c not in ("lat", "lon")]
    lines = ["\t".join([*(bcdm_names.get(c, c) for c in keep), "coord"])]
    lines += ["\t".join([*(r[HEADER.index(c)] for c in keep), f"[{r[12]}, {r[13]}]"]) for r in rows]
    bcdm = tmp_path / "bcdm.tsv"
    bcdm.write_text("\n".join(lines) + "\n")
    assert is_bold_tsv(bcdm) and is_bold_tsv(combined)
    reports = [import_bold([path], tmp_path / path.stem, undescribed_fraction=0.0) for path in (combined, bcdm)]
    assert [r.rows_written for r in reports] == [5, 5] and [u[0] for u in reports[1].unusable] == ["M1"]
    tables = [read_metadata(tmp_path / name / METADATA_ZIP_NAME).to_pylist() for name in ("combined", "bcdm")]
    assert tables[0] == tables[1] and tables[0][0]["coord-lon"] == 31.5


@pytest.mark.damaged_input
def test_not_a_bold_export(tmp_path: Path) -> None:
    path = tmp_path / "x.tsv"
    path.write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="missing column"):
        import_bold([path], tmp_path / "out")
    with pytest.raises(ValueError, match="within 0..1"):
        import_bold([_tsv(tmp_path / "y.tsv", [_row("P1")])], tmp_path / "out", undescribed_fraction=2)


def test_real_bold_export(bold_tsv: Path, tmp_path: Path) -> None:
    report = import_bold([bold_tsv], tmp_path / "out", undescribed_fraction=0.2, unlabelled_fraction=0.3, seed=0)
    with gzip.open(bold_tsv, "rt") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        usable = sum(
            1
            for line in handle
            if (v := line.rstrip("\n").split("\t"))[header.index("markercode")] == "COI-5P"
            and v[header.index("nucleotides")].strip()
        )
    assert set(REQUIRED_COLUMNS) <= set(header)
    assert report.rows_written == usable == 48_887  # no record lost
    table = read_metadata(tmp_path / "out" / METADATA_ZIP_NAME)
    assert table.num_rows == usable
    splits = set(table.column("split").to_pylist())
    assert {"pretrain", "train", "test", "key_unseen", "test_unseen"} <= splits
    assert all(set(b) <= set("ACGTN") for b in table.column("dna_barcode").to_pylist())
    unseen = table.filter(pc.equal(table.column("split"), "test_unseen"))
    assert unseen.num_rows > 0
    assert all(is_placeholder_species(s) for s in unseen.column("species").to_pylist())


# --- damaged and messy exports: each stops with a message naming file and line, or is reported ---------


def _cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    from bioscan_hf.cli import main

    rc = main(list(args))
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def _report(out: Path) -> dict[str, tuple[str, str]]:
    lines = (out / "import_report.tsv").read_text().splitlines()
    assert lines[0] == "processid\taction\treason"
    return {pid: (action, why) for pid, action, why in (line.split("\t") for line in lines[1:])}


@pytest.mark.damaged_input
@pytest.mark.parametrize(
    ("seq", "reason"),
    [
        ("----  ..--", "empty barcode (nothing but gaps, whitespace or N)"),
        ("NNNNNN", "empty barcode (nothing but gaps, whitespace or N)"),
        ("ACGT123XYZ<script>", "not DNA: '1' at position 4 ('ACGT123XYZ<script>')"),
        ("ACGT<b>bold</b>", "not DNA: '<' at position 4 ('ACGT<b>bold</b>')"),
        ("ACGT🦋ACGT" * 3, "not DNA: '🦋' at position 4 ('ACGT🦋ACGTACGT🦋ACGTACGT🦋A…')"),
    ],
)
def test_unusable_barcodes_are_reported_never_written(
    tmp_path: Path, capsys: pytest.CaptureFixture, seq: str, reason: str
) -> None:
    tsv = _tsv(tmp_path / "a.tsv", [_row("GOOD1"), _row("BAD1", seq=seq), _row("GOOD2")])
    rc, output = _cli(capsys, "import-bold", str(tsv), "--out", str(tmp_path / "out"), "--undescribed-fraction", "0")
    assert rc == 0 and "unusable rows: 1" in output
    assert _report(tmp_path / "out")["BAD1"] == ("skipped", f"unusable barcode: {reason} (a.tsv line 3)")
    table = read_metadata(tmp_path / "out" / METADATA_ZIP_NAME)
    assert table.column("processid").to_pylist() == ["GOOD1", "GOOD2"]  # exactly the records not reported


@pytest.mark.damaged_input
def test_ids_that_would_become_paths_and_control_characters_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A processid names image files and chunk files: one with '..' or a separator is refused; a NUL in any
    field would become part of a label. Both rows are listed; every other row is written as it was."""
    nul = _row("NUL1")
    nul[HEADER.index("order_name")] = "Lepidop\x00tera"
    rows = [_row("GOOD1"), _row("../../outside"), _row("A\\B"), nul, _row("GOOD2")]
    tsv = _tsv(tmp_path / "a.tsv", rows)
    before = tsv.read_bytes()
    rc, output = _cli(capsys, "import-bold", str(tsv), "--out", str(tmp_path / "out"), "--undescribed-fraction", "0")
    assert rc == 0 and "unusable rows: 3" in output
    report = _report(tmp_path / "out")
    assert report["../../outside"] == ("skipped", "processid '../../outside' holds '..' at position 0 (a.tsv line 3)")
    assert report["A\\B"] == ("skipped", "processid 'A\\\\B' holds a path separator '\\' at position 1 (a.tsv line 4)")
    nul_reason = "column 'order_name' holds a control character '\\x00' at position 7 (a.tsv line 5)"
    assert report["NUL1"] == ("skipped", nul_reason)
    table = read_metadata(tmp_path / "out" / METADATA_ZIP_NAME)
    assert table.column("processid").to_pylist() == ["GOOD1", "GOOD2"]
    assert tsv.read_bytes() == before


@pytest.mark.damaged_input
def test_latin1_text_is_read_and_reported(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "latin1.tsv"
    rows = [_row("P1"), _row("P2")]
    rows[1][10] = "Réunion"
    path.write_bytes("\n".join("\t".join(r) for r in [HEADER, *rows]).encode("latin-1") + b"\n")
    rc, _ = _cli(capsys, "import-bold", str(path), "--out", str(tmp_path / "out"), "--undescribed-fraction", "0")
    assert rc == 0
    assert _report(tmp_path / "out")["P2"] == ("changed", "not UTF-8 text, read as Latin-1 (latin1.tsv line 3)")
    countries = read_metadata(tmp_path / "out" / METADATA_ZIP_NAME).column("country").to_pylist()
    assert countries == ["Egypt", "Réunion"]  # no U+FFFD replacement characters


@pytest.mark.damaged_input
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda data: gzip.compress(data)[:-60],
            r"x.tsv.gz: the gzip stream is damaged or truncated after line \d+.*again",
        ),
        (lambda data: data, r"x.tsv.gz: the gzip stream is damaged or truncated after line 0 \(BadGzipFile.*again"),
        (lambda data: b"", "x.tsv.gz: empty file; expected a BOLD TSV export"),
    ],
    ids=["truncated-gzip", "plain-bytes-named-gz", "empty-gz"],
)
def test_damaged_gzip_exports_stop_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture, make, message: str
) -> None:
    rows = [_row(f"P{i}", seq="ACGT" * 150) for i in range(40)]
    data = "\n".join("\t".join(r) for r in [HEADER, *rows]).encode() + b"\n"
    (tmp_path / "x.tsv.gz").write_bytes(make(data))
    rc, output = _cli(capsys, "import-bold", str(tmp_path / "x.tsv.gz"), "--out", str(tmp_path / "out"))
    assert rc == 1 and re.search(message, output)
    assert not (tmp_path / "out" / METADATA_ZIP_NAME).exists()


@pytest.mark.damaged_input
def test_empty_export_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "e.tsv").write_bytes(b"")
    rc, output = _cli(capsys, "import-bold", str(tmp_path / "e.tsv"), "--out", str(tmp_path / "out"))
    assert rc == 1 and "e.tsv: empty file" in output


def _taxon_row(pid: str, seq: str, genus: str, species: str, subfamily: str = "") -> list[str]:
    row = _row(pid, species=species, seq=seq)
    row[7], row[8] = subfamily, genus
    return row


@pytest.mark.damaged_input
def test_conflicting_annotations_follow_the_papers_rule(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    majority, split, genus_cut = "ACGTTGCA" * 10, "TTGCAACG" * 10, "GGCATTAC" * 10
    rows = [_taxon_row(f"M{i}", majority, "Tuta", "Tuta absoluta") for i in range(9)]
    rows += [_taxon_row("M9", majority.lower() + "NNN", "Tuta", "Tuta other")]  # same barcode, 90% agree
    rows += [_taxon_row(f"S{i}", split, "Tuta", "Tuta absoluta" if i < 3 else "Tuta other") for i in range(5)]
    rows += [_taxon_row("G0", genus_cut, "Tuta", "Tuta absoluta"), _taxon_row("G1", genus_cut, "Phthorimaea", "")]
    tsv = _tsv(tmp_path / "c.tsv", rows)
    rc, _ = _cli(capsys, "import-bold", str(tsv), "--out", str(tmp_path / "out"), "--undescribed-fraction", "0")
    assert rc == 0
    records = {r["processid"]: r for r in read_metadata(tmp_path / "out" / METADATA_ZIP_NAME).to_pylist()}
    assert records["M9"]["species"] == "Tuta absoluta" and records["M9"]["taxon"] == "Tuta absoluta"
    assert all(records[f"S{i}"]["species"] is None and records[f"S{i}"]["genus"] == "Tuta" for i in range(5))
    for pid in ("G0", "G1"):  # a genus cut also drops the `unassigned Gelechiidae` filler: back to the family
        assert (records[pid]["genus"], records[pid]["subfamily"], records[pid]["taxon"]) == (
            None,
            None,
            "Gelechiidae",
        )
    report = _report(tmp_path / "out")
    assert report["M9"] == (
        "changed",
        "annotation changed: species 'Tuta other' → 'Tuta absoluta' (9 of 10 records of its barcode agree)",
    )
    assert report["S0"][0] == "changed" and "cut at species" in report["S0"][1]
    assert {pid for pid, (action, _) in report.items() if action == "changed"} == {
        "M9",
        *(f"S{i}" for i in range(5)),
        "G0",
        "G1",
    }
    rc, _ = _cli(
        capsys,
        "import-bold",
        str(tsv),
        "--out",
        str(tmp_path / "kept"),
        "--keep-conflicts",
        "--undescribed-fraction",
        "0",
    )
    kept = {r["processid"]: r for r in read_metadata(tmp_path / "kept" / METADATA_ZIP_NAME).to_pylist()}
    assert rc == 0 and kept["M9"]["species"] == "Tuta other" and kept["S0"]["species"] == "Tuta absoluta"
    assert _report(tmp_path / "kept") == {}


@pytest.mark.damaged_input
def test_barcodes_spelled_differently_share_a_split_after_import(tmp_path: Path) -> None:
    rows = []
    for s in range(3):
        for i in range(24):
            base = ("ACGT" * 20)[: 40 + i % 8] + "ACG"[s]
            spelled = [base, base.lower(), base + "NNNN", "-".join(base[j : j + 10] for j in range(0, len(base), 10))]
            rows.append(_row(f"S{s}-{i}", species=f"Tuta species{'abc'[s]}", seq=spelled[i % 4]))
    import_bold([_tsv(tmp_path / "s.tsv", rows)], tmp_path / "out", undescribed_fraction=0.0)
    table = read_metadata(tmp_path / "out" / METADATA_ZIP_NAME).to_pylist()
    by_barcode: dict[str, set[str]] = {}
    for record in table:
        by_barcode.setdefault(record["dna_barcode"].rstrip("N"), set()).add(record["split"])
    assert len(by_barcode) == 24 and all(len(splits) == 1 for splits in by_barcode.values())
    assert "test" in {r["split"] for r in table}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.damaged_input
def test_import_bold_never_writes_into_a_folder_of_other_files(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "import_report.tsv").write_text("my notes\n")
    (out / "other.csv").write_text("a,b\n")
    before = _files(out)
    with pytest.raises(FileExistsError, match="did not write .*import_report.tsv.*pass --overwrite"):
        import_bold([_tsv(tmp_path / "a.tsv", [_row("P1"), _row("P2")])], out)
    assert _files(out) == before
    import_bold([_tsv(tmp_path / "a.tsv", [_row("P1"), _row("P2")])], out, undescribed_fraction=0.0, overwrite=True)
    assert (out / "other.csv").read_text() == "a,b\n"  # beside it, never deleted


@pytest.mark.damaged_input
def test_import_bold_of_no_usable_record_fails_and_says_why(tmp_path: Path) -> None:
    header_only = _tsv(tmp_path / "empty.tsv", [])
    with pytest.raises(BoldError, match="no usable record to import"):
        import_bold([header_only], tmp_path / "out")
    assert not (tmp_path / "out" / "BIOSCAN_5M_Insect_Dataset_metadata_MultiTypes.zip").exists()
    rna = _tsv(tmp_path / "rna.tsv", [_row("P1", marker="16S")])
    assert main(["import-bold", str(rna), "--out", str(tmp_path / "o")]) == 1
    assert "P1" in (tmp_path / "o" / "import_report.tsv").read_text()  # why, per row
