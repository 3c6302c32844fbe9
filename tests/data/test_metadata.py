"""The streaming metadata reader: types, filtering, schema checks, label maps and broken files."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest

from bioscan_hf.data.metadata import MetadataError, iter_metadata, label_names, read_header, read_metadata
from bioscan_hf.data.release import write_metadata_zip
from bioscan_hf.data.sample import generate_records
from bioscan_hf.data.schema import METADATA_COLUMNS, METADATA_CSV_PATH, METADATA_ZIP_NAME


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


def test_bad_split_value_names_the_record(tmp_path: Path) -> None:
    rows = _rows()
    rows[3]["split"] = "tset"
    with pytest.raises(MetadataError, match=f"{rows[3]['processid']}.*'tset'"):
        read_metadata(_write_csv(tmp_path / "m.csv", rows))


def test_missing_column_is_named_and_extra_columns_kept(tmp_path: Path) -> None:
    rows = _rows()
    columns = [c for c in METADATA_COLUMNS if c != "dna_bin"]
    with pytest.raises(MetadataError, match="missing column.*dna_bin"):
        read_header(_write_csv(tmp_path / "a.csv", rows, columns))
    for row in rows:
        row["collector"] = "CBG"
    table = read_metadata(_write_csv(tmp_path / "b.csv", rows, [*METADATA_COLUMNS, "collector"]))
    assert table.column("collector").to_pylist()[0] == "CBG"


def test_truncated_csv_is_an_error(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "m.csv", _rows())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut inside a row
    with pytest.raises(MetadataError, match=r"m.csv line \d+ \(processid .*fields, expected 23.*truncated"):
        read_metadata(path)


def test_truncated_zip_is_an_error(tmp_path: Path) -> None:
    zipped = write_metadata_zip(tmp_path, _rows(), origin="test")
    data = zipped.read_bytes()
    zipped.write_bytes(data[: len(data) - 200])
    with pytest.raises(MetadataError, match="not a readable zip"):
        read_metadata(zipped)


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
