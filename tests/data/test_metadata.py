"""The streaming metadata reader: types, filtering, schema checks, label maps and broken files."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import pytest

from bioscan_hf.data.metadata import MetadataError, iter_metadata, read_header, read_metadata
from bioscan_hf.data.release import MANIFEST_NAME, write_metadata_zip
from bioscan_hf.data.sample import generate_records
from bioscan_hf.data.schema import METADATA_COLUMNS, METADATA_CSV_PATH, METADATA_ZIP_NAME
from bioscan_hf.data.staging import label_names


def _rows(n: int = 120) -> list[dict]:
    rows, _, _ = generate_records(n, seed=3)
    for row in rows:
        row.update(image_measurement_value=None, area_fraction=None, scale_factor=None)
    return rows


def _write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(METADATA_COLUMNS)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return path


def test_zip_and_plain_csv_read_the_same(tmp_path: Path) -> None:
    rows = _rows()
    zipped = write_metadata_zip(tmp_path, rows, origin="test")
    plain = _write_csv(tmp_path / "meta.csv", rows)
    assert read_metadata(zipped).equals(read_metadata(plain))
    assert read_metadata(zipped).num_rows == len(rows)


def test_types_follow_the_spec(tmp_path: Path) -> None:
    rows = _rows()
    rows[0].update(chunk="05", split="pretrain", index_bioscan_1M_insect="150502.0", country=None)
    rows[0]["coord-lat"] = ""
    table = read_metadata(_write_csv(tmp_path / "m.csv", rows))
    first = table.slice(0, 1).to_pylist()[0]
    assert first["chunk"] == "05"  # stays a string with its leading zero
    assert first["index_bioscan_1M_insect"] == 150502
    assert first["country"] is None and first["coord-lat"] is None
    assert str(table.schema.field("inferred_ranks").type) == "int8"
    assert str(table.schema.field("index_bioscan_1M_insect").type) == "int64"


@pytest.mark.damaged_input
def test_fractional_integer_names_the_record(tmp_path: Path) -> None:
    rows = _rows()
    rows[5]["index_bioscan_1M_insect"] = "12.5"
    with pytest.raises(MetadataError, match=rows[5]["processid"]):
        read_metadata(_write_csv(tmp_path / "m.csv", rows))


def test_split_filter_streams_only_that_split(tmp_path: Path) -> None:
    rows = _rows(400)
    path = _write_csv(tmp_path / "m.csv", rows)
    test = read_metadata(path, "test")
    assert test.num_rows == sum(r["split"] == "test" for r in rows) > 0
    assert set(test.column("split").to_pylist()) == {"test"}
    # small blocks: the reader streams many batches and never needs the whole file
    batches = list(iter_metadata(path, splits=["validation"], block_size=4096))
    assert sum(b.num_rows for b in batches) == sum(r["split"] == "val" for r in rows)


def test_unknown_split_lists_valid_ones(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "m.csv", _rows())
    with pytest.raises(ValueError, match="valid splits: pretrain, train, val"):
        read_metadata(path, "testing")


@pytest.mark.damaged_input
def test_bad_split_value_names_the_record(tmp_path: Path) -> None:
    rows = _rows()
    rows[3]["split"] = "tset"
    with pytest.raises(MetadataError, match=f"{rows[3]['processid']}.*'tset'"):
        read_metadata(_write_csv(tmp_path / "m.csv", rows))


@pytest.mark.damaged_input
def test_missing_column_is_named_and_extra_columns_kept(tmp_path: Path) -> None:
    rows = _rows()
    columns = [c for c in METADATA_COLUMNS if c != "dna_bin"]
    with pytest.raises(MetadataError, match="missing column.*dna_bin"):
        read_header(_write_csv(tmp_path / "a.csv", rows, columns))
    for row in rows:
        row["collector"] = "CBG"
    table = read_metadata(_write_csv(tmp_path / "b.csv", rows, [*METADATA_COLUMNS, "collector"]))
    assert table.column("collector").to_pylist()[0] == "CBG"


@pytest.mark.damaged_input
def test_truncated_csv_is_an_error(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "m.csv", _rows())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut inside a row
    with pytest.raises(MetadataError, match=r"m.csv line \d+ \(processid .*fields, expected 23.*truncated"):
        read_metadata(path)


@pytest.mark.damaged_input
def test_truncated_zip_is_an_error(tmp_path: Path) -> None:
    zipped = write_metadata_zip(tmp_path, _rows(), origin="test")
    data = zipped.read_bytes()
    zipped.write_bytes(data[: len(data) - 200])
    with pytest.raises(MetadataError, match="not a readable zip"):
        read_metadata(zipped)


@pytest.mark.damaged_input
def test_zip_without_the_csv_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / METADATA_ZIP_NAME
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "nothing")
    with pytest.raises(MetadataError, match=METADATA_CSV_PATH):
        read_metadata(path)


def test_label_names_are_code_point_sorted_over_the_whole_file(tmp_path: Path) -> None:
    rows = _rows()
    rows[0]["species"], rows[0]["split"] = "alpha beta", "pretrain"
    rows[1]["species"], rows[1]["split"] = "Zeta beta", "pretrain"
    rows[2]["species"], rows[2]["split"] = "Éta beta", "pretrain"
    names = label_names(_write_csv(tmp_path / "m.csv", rows))["species"]
    assert names == sorted(names)
    assert names.index("Zeta beta") < names.index("alpha beta") < names.index("Éta beta")
    assert None not in names and len(names) == len({r["species"] for r in rows if r["species"]})


def test_reader_accepts_utf8_bom(tmp_path: Path) -> None:
    text = io.StringIO()
    path = _write_csv(tmp_path / "m.csv", _rows())
    text.write("\ufeff" + path.read_text())
    path.write_text(text.getvalue(), encoding="utf-8")
    assert read_header(path)[0] == "processid"
    assert read_metadata(path).column_names[0] == "processid"


# --- damaged metadata through `bioscan-hf prepare`: each stops naming file, line and processid, and leaves
# nothing loadable; or (extra columns, a cut at a row boundary) is kept or reported --------------------------


def _release_with_csv(folder: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    """A release folder holding the metadata CSV alone (as a user who unzipped it has)."""
    folder.mkdir()
    return _write_csv(folder / Path(METADATA_CSV_PATH).name, rows, columns).parent


def _prepare(capsys: pytest.CaptureFixture, release: Path, out: Path) -> tuple[int, str]:
    from bioscan_hf.cli import main

    rc = main(["prepare", "--release", str(release), "--out", str(out), "--configs", "metadata"])
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def _set(field: str, value: str):
    def damage(rows: list[dict]) -> None:
        rows[40][field] = value

    return damage


def _repeat_row(rows: list[dict]) -> None:
    rows.insert(80, dict(rows[40]))


def _move_to_other_split(rows: list[dict]) -> None:
    twin = dict(rows[40], split="test" if rows[40]["split"] != "test" else "train", chunk="")
    rows.insert(80, twin)


# (damage, message): row 40 is line 42 of the file (the header is line 1); the processid is named.
DAMAGED_METADATA = {
    "coord-lat not a number": (
        _set("coord-lat", "12,5N"),
        r"line 42 \(processid '{pid}'\): column 'coord-lat': "
        r"'12,5N' is not a number; fix or remove that line",
    ),
    "inferred_ranks fractional": (
        _set("inferred_ranks", "1.5"),
        r"line 42 \(processid '{pid}'\): column "
        r"'inferred_ranks' must be an integer, got 1.5",
    ),
    "unknown split": (_set("split", "tset"), r"line 42 \(processid '{pid}'\): unknown split 'tset'; valid splits"),
    "empty processid": (_set("processid", ""), r"line 42: empty processid; every record needs one"),
    "barcode with HTML": (
        _set("dna_barcode", "ACGT<b>x</b>"),
        r"line 42 \(processid '{pid}'\): dna_barcode not "
        r"DNA: '<' at position 4",
    ),
    "barcode with digits": (_set("dna_barcode", "ACGT1234"), r"line 42 \(processid '{pid}'\): dna_barcode not DNA"),
    "processid that walks out of the release": (
        _set("processid", "../../../etc/x"),
        r"line 42: processid '\.\./\.\./\.\./etc/x' holds '\.\.' at position 0; a processid names the "
        r"record's image file, so it may hold no path separator, '\.\.' or control character",
    ),
    "processid with a path separator": (
        _set("processid", "BIOUG/123"),
        r"line 42: processid 'BIOUG/123' holds a path separator '/' at position 5",
    ),
    "NUL inside a taxonomy field": (
        _set("order", "Arthrop\x00oda"),
        r"line 42 \(processid '{pid}'\): column 'order' holds a control character '\\x00' at position 7; "
        r"remove it from that line",
    ),
    "barcode with emoji": (_set("dna_barcode", "AC🦋GT"), r"line 42 \(processid '{pid}'\): dna_barcode not DNA: '🦋'"),
    "empty barcode": (_set("dna_barcode", ""), r"line 42 \(processid '{pid}'\): dna_barcode empty barcode"),
    "row repeated": (
        _repeat_row,
        r"1 processid\(s\) used by more than one line: processid '{pid}' on line 42 "
        r"\(\w+\), line 82 \(\w+\)",
    ),
    "processid in two splits": (
        _move_to_other_split,
        r"1 processid\(s\) used by more than one line: processid '{pid}' on line 42 \((\w+)\), line 82 \((?!\1)\w+\)",
    ),
}


@pytest.mark.damaged_input
@pytest.mark.parametrize("case", list(DAMAGED_METADATA))
def test_damaged_metadata_rows_stop_prepare(tmp_path: Path, capsys: pytest.CaptureFixture, case: str) -> None:
    damage, message = DAMAGED_METADATA[case]
    rows = _rows(200)
    pid = rows[40]["processid"]
    damage(rows)
    release = _release_with_csv(tmp_path / "release", rows)
    rc, output = _prepare(capsys, release, tmp_path / "out")
    assert rc == 1, output
    assert re.search(r"BIOSCAN_5M_Insect_Dataset_metadata.csv:? " + message.format(pid=re.escape(pid)), output), output
    assert not (tmp_path / "out" / "README.md").exists()  # nothing load_dataset could open as complete
    assert not list((tmp_path / "out").glob("data/*/_complete.json"))


def _raw_damage(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))


@pytest.mark.damaged_input
def test_non_utf8_and_blank_lines_are_located(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = _rows(200)
    pid = rows[40]["processid"]
    release = _release_with_csv(tmp_path / "r1", rows)
    _raw_damage(release / Path(METADATA_CSV_PATH).name, f"{pid},".encode(), f"{pid},\xe9t\xe9-".encode("latin-1"))
    rc, output = _prepare(capsys, release, tmp_path / "o1")
    assert rc == 1 and re.search(rf"line 42 \(processid '{pid}'\): not UTF-8 text \(byte 0xe9", output), output
    release = _release_with_csv(tmp_path / "r2", rows)
    _raw_damage(release / Path(METADATA_CSV_PATH).name, f"\n{pid},".encode(), f"\n\n{pid},".encode())
    rc, output = _prepare(capsys, release, tmp_path / "o2")
    assert rc == 1 and "line 42: an empty line inside the file; remove it" in output, output


@pytest.mark.damaged_input
def test_error_lines_count_from_the_file_start_across_blocks(tmp_path: Path) -> None:
    rows = _rows(3000)
    rows[2500]["split"] = "tset"
    path = _write_csv(tmp_path / "m.csv", rows)
    with pytest.raises(MetadataError, match=rf"m.csv line 2502 \(processid '{rows[2500]['processid']}'\)"):
        for _ in iter_metadata(path, splits=["test"], block_size=4096):  # many small Arrow blocks
            pass


@pytest.mark.damaged_input
def test_corrupt_deflate_in_the_metadata_zip(tmp_path: Path) -> None:
    zipped = write_metadata_zip(tmp_path, _rows(400), origin="test")
    data = bytearray(zipped.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # zero the deflate stream mid-file (central directory intact)
    zipped.write_bytes(bytes(data))
    with pytest.raises(MetadataError, match=r"metadata_MultiTypes.zip.*(line|truncated|damaged|CRC|Error)"):
        read_metadata(zipped)


@pytest.mark.damaged_input
def test_extra_columns_are_published_and_a_cut_at_a_row_boundary_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import datasets

    rows = _rows(200)
    for row in rows:
        row["collector"] = "CBG"
    release = _release_with_csv(tmp_path / "release", rows, [*METADATA_COLUMNS, "collector"])
    (release / MANIFEST_NAME).write_text('{"rows": 200, "origin": "test"}')  # as a generator writes it
    csv_path = release / Path(METADATA_CSV_PATH).name
    lines = csv_path.read_text().splitlines(keepends=True)
    csv_path.write_text("".join(lines[:150]))  # cut exactly at a row boundary: parses cleanly
    rc, output = _prepare(capsys, release, tmp_path / "out")
    assert rc == 0
    assert "WARNING: the metadata holds 149 rows but its manifest (test) has 200" in output
    assert "the metadata holds 149 rows" in (tmp_path / "out" / "README.md").read_text()
    train = datasets.load_dataset(str(tmp_path / "out"), "metadata", split="train")
    assert set(train["collector"]) == {"CBG"}  # extra columns kept, never dropped


@pytest.mark.damaged_input
def test_another_delimiter_and_a_repeated_header_are_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = _rows(200)
    release = _release_with_csv(tmp_path / "r1", rows)
    csv_path = release / Path(METADATA_CSV_PATH).name
    csv_path.write_text(csv_path.read_text().replace(",", ";"))
    before = csv_path.read_bytes()
    rc, output = _prepare(capsys, release, tmp_path / "o1")
    assert rc == 1 and "line 1: the header is one column: the file is separated by semicolons" in output, output
    assert csv_path.read_bytes() == before and not (tmp_path / "o1").exists()
    release = _release_with_csv(tmp_path / "r2", rows)
    csv_path = release / Path(METADATA_CSV_PATH).name
    lines = csv_path.read_text().splitlines(keepends=True)
    csv_path.write_text("".join([*lines[:100], lines[0], *lines[100:]]))
    rc, output = _prepare(capsys, release, tmp_path / "o2")
    assert rc == 1 and "line 101: the header line again (two files joined?); remove that line" in output, output


def test_names_moved_to_staging_still_import_with_a_warning() -> None:
    import bioscan_hf.data.metadata as metadata
    from bioscan_hf.data import staging

    with pytest.warns(DeprecationWarning, match="moved to bioscan_hf.data.staging"):
        assert metadata.release_summary is staging.release_summary
    with pytest.raises(AttributeError):
        metadata.no_such_name  # noqa: B018
