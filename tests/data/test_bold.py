"""BOLD import on the real export and on hand-made bad rows."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow.compute as pc
import pytest

from bioscan_hf.data.bold import REQUIRED_COLUMNS, clean_barcode, import_bold
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
