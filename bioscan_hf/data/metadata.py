"""Streaming reader for the BIOSCAN-5M metadata CSV, plain or inside the metadata zip.

The release CSV is ~4 GB. Users today parse all of it with pandas and then filter; here Arrow's
streaming CSV reader parses it block by block, types each column once (SPEC §1.2) and keeps only
the rows of the requested splits, so memory stays bounded by one block plus the result.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bioscan_hf.data.schema import LABEL_COLUMNS, METADATA_COLUMNS, METADATA_CSV_PATH, SPLITS, resolve_split

#: Bytes parsed per Arrow block; bounds the reader's working memory.
BLOCK_SIZE = 16 << 20


class MetadataError(ValueError):
    """The metadata file is missing columns, truncated or holds values outside the schema."""


def cache_dir() -> Path:
    """Folder for bioscan-hf's own caches (label maps, verified checksums)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bioscan_hf"
    path = Path(os.environ.get("BIOSCAN_HF_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def open_metadata(source: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Open the metadata CSV for binary reading, whether `source` is the CSV or the metadata zip."""
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"metadata file not found: {source}")
    if source.suffix.lower() == ".zip":
        try:
            archive = zipfile.ZipFile(source)
        except zipfile.BadZipFile as err:
            raise MetadataError(f"{source}: not a readable zip (truncated or corrupt download?): {err}") from err
        with archive:
            names = archive.namelist()
            member = METADATA_CSV_PATH if METADATA_CSV_PATH in names else None
            if member is None:
                csvs = [n for n in names if n.endswith(".csv")]
                if len(csvs) != 1:
                    raise MetadataError(
                        f"{source}: expected {METADATA_CSV_PATH} inside the zip; found {csvs or names[:5]}"
                    )
                member = csvs[0]
            with archive.open(member) as handle:
                yield handle
    else:
        with open(source, "rb") as handle:
            yield handle


def read_header(source: str | os.PathLike) -> list[str]:
    """Column names of the metadata CSV, checked against the schema (missing columns are an error)."""
    with open_metadata(source) as handle:
        line = handle.readline().decode("utf-8-sig").rstrip("\r\n")
    if not line:
        raise MetadataError(f"{source}: empty metadata file")
    columns = next(csv.reader([line]))
    missing = [c for c in METADATA_COLUMNS if c not in columns]
    if missing:
        raise MetadataError(f"{source}: metadata is missing column(s) {', '.join(missing)}")
    return columns


def column_types(columns: Iterable[str]) -> dict[str, pa.DataType]:
    """Arrow types to parse each column as: the schema's type, or string for unknown extra columns."""
    return {c: _parse_type(METADATA_COLUMNS.get(c, pa.string())) for c in columns}


def _parse_type(target: pa.DataType) -> pa.DataType:
    # Integers that the release writes as float text ("150502.0") are parsed as float, then cast.
    return pa.float64() if pa.types.is_integer(target) else target


def iter_metadata(
    source: str | os.PathLike,
    splits: Iterable[str] | None = None,
    columns: Iterable[str] | None = None,
    block_size: int = BLOCK_SIZE,
) -> Iterator[pa.RecordBatch]:
    """Stream typed record batches of the metadata, keeping only rows of `splits` (all when None).

    `columns` restricts the parsed columns (the `split` column is always read when filtering).
    Values follow SPEC §1.2: empty cells are null, `chunk` stays a string, integer columns written as
    float text become integers. A truncated or malformed file raises `MetadataError`.
    """
    header = read_header(source)
    wanted = list(header if columns is None else columns)
    unknown = [c for c in wanted if c not in header]
    if unknown:
        raise MetadataError(f"{source}: no column(s) {', '.join(unknown)}; columns are {', '.join(header)}")
    split_set = None if splits is None else {resolve_split(s) for s in splits}
    parsed = wanted + (["split"] if split_set is not None and "split" not in wanted else [])
    convert = pacsv.ConvertOptions(
        column_types=column_types(header),
        include_columns=parsed,
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    split_filter = None if split_set is None else pa.array(sorted(split_set))
    with open_metadata(source) as handle:
        try:
            reader = pacsv.open_csv(
                handle, read_options=pacsv.ReadOptions(block_size=block_size), convert_options=convert
            )
            for batch in reader:
                if split_filter is not None:
                    batch = batch.filter(pc.is_in(batch.column("split"), value_set=split_filter))
                    if batch.num_rows == 0:
                        continue
                yield _finish_types(batch, wanted, source)
        except (pa.ArrowInvalid, zipfile.BadZipFile, EOFError, OSError) as err:
            raise MetadataError(f"{source}: malformed or truncated metadata CSV: {err}") from err


def _finish_types(batch: pa.RecordBatch, wanted: list[str], source: str | os.PathLike) -> pa.RecordBatch:
    arrays, fields = [], []
    for name in wanted:
        array = batch.column(name)
        target = METADATA_COLUMNS.get(name, pa.string())
        if pa.types.is_integer(target):
            array = _to_integer(array, target, name, batch, source)
        elif name == "split":
            _check_splits(array, batch, source)
        arrays.append(array)
        fields.append(pa.field(name, target))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _to_integer(array: pa.Array, target: pa.DataType, name: str, batch: pa.RecordBatch, source) -> pa.Array:
    try:
        return pc.cast(array, target)  # safe cast: refuses fractions and overflow
    except pa.ArrowInvalid as err:
        fractional = pc.fill_null(pc.not_equal(pc.floor(array), array), False)
        raise MetadataError(
            f"{source}: record {_record_id(batch, fractional)}: column {name!r} must be an integer"
        ) from err


def _record_id(batch: pa.RecordBatch, mask: pa.Array) -> str:
    """The processid of the first row where `mask` is true (for error messages)."""
    row = max(pc.index(mask, True).as_py(), 0)
    return batch.column("processid")[row].as_py() if "processid" in batch.schema.names else f"at row {row}"


def _check_splits(array: pa.Array, batch: pa.RecordBatch, source) -> None:
    invalid = pc.invert(pc.fill_null(pc.is_in(array, value_set=pa.array(SPLITS)), False))
    if pc.any(invalid).as_py():
        value = array[pc.index(invalid, True).as_py()].as_py()
        raise MetadataError(
            f"{source}: record {_record_id(batch, invalid)}: unknown split {value!r}; valid splits: {', '.join(SPLITS)}"
        )


def read_metadata(
    source: str | os.PathLike, split: str | Iterable[str] | None = None, columns: Iterable[str] | None = None
) -> pa.Table:
    """Read the metadata (optionally one split or several) into an Arrow table; `.to_pandas()` for pandas."""
    splits = [split] if isinstance(split, str) else split
    batches = list(iter_metadata(source, splits=splits, columns=columns))
    if batches:
        return pa.Table.from_batches(batches)
    header = read_header(source)
    names = list(header if columns is None else columns)
    return pa.schema([pa.field(c, METADATA_COLUMNS.get(c, pa.string())) for c in names]).empty_table()


def file_key(path: Path) -> str:
    """A cache key for a file's current content: its absolute path, size and modification time."""
    stat = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()


def release_summary(source: str | os.PathLike) -> dict:
    """Label names per label column and row counts per split, from one streaming pass (cached per file).

    Label names are code-point sorted over the whole file (bioscan-dataset's convention): the index
    of a value is its position in the list, and a missing value is −1, so indices agree across splits.
    """
    source = Path(source)
    cached = cache_dir() / "summaries" / f"{file_key(source)}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    seen: dict[str, set[str]] = {c: set() for c in LABEL_COLUMNS}
    counts: dict[str, int] = dict.fromkeys(SPLITS, 0)
    for batch in iter_metadata(source, columns=[*LABEL_COLUMNS, "split"]):
        for name in LABEL_COLUMNS:
            seen[name].update(pc.unique(batch.column(name)).drop_null().to_pylist())
        for item in pc.value_counts(batch.column("split")).to_pylist():
            counts[item["values"]] += item["counts"]
    summary = {"labels": {c: sorted(values) for c, values in seen.items()}, "split_counts": counts}
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(summary))
    tmp.replace(cached)
    return summary


def label_names(source: str | os.PathLike) -> dict[str, list[str]]:
    """Names of each label column in index order (see `release_summary`)."""
    return release_summary(source)["labels"]


def stage_splits(source: str | os.PathLike, rows_per_group: int) -> dict[str, tuple[str, int]]:
    """Write each split's typed rows to its own Parquet file, `rows_per_group` rows per row group.

    One streaming pass over the CSV, cached per file: builders then read any shard (one row group)
    directly instead of re-parsing the whole CSV per shard. Returns split → (path, rows).
    """
    import pyarrow.parquet as pq

    source = Path(source)
    folder = cache_dir() / "staged" / f"{file_key(source)}-{rows_per_group}"
    manifest = folder / "manifest.json"
    if manifest.exists():
        return {k: tuple(v) for k, v in json.loads(manifest.read_text()).items()}
    folder.mkdir(parents=True, exist_ok=True)
    header = read_header(source)
    schema = pa.schema([pa.field(c, METADATA_COLUMNS.get(c, pa.string())) for c in header])
    writers: dict[str, pq.ParquetWriter] = {}
    pending: dict[str, list[pa.Table]] = {s: [] for s in SPLITS}
    counts: dict[str, int] = dict.fromkeys(SPLITS, 0)

    def flush(split: str, final: bool) -> None:
        table = pa.concat_tables(pending[split]) if pending[split] else schema.empty_table()
        while table.num_rows >= rows_per_group or (final and table.num_rows):
            if split not in writers:
                writers[split] = pq.ParquetWriter(folder / f"{split}.parquet", schema)
            writers[split].write_table(table.slice(0, rows_per_group), row_group_size=rows_per_group)
            table = table.slice(rows_per_group)
        pending[split] = [table] if table.num_rows else []

    try:
        for batch in iter_metadata(source):
            table = pa.Table.from_batches([batch])
            for split in pc.unique(batch.column("split")).to_pylist():
                part = table.filter(pc.equal(table.column("split"), split))
                pending[split].append(part)
                counts[split] += part.num_rows
                if sum(t.num_rows for t in pending[split]) >= rows_per_group:
                    flush(split, final=False)
        for split in SPLITS:
            flush(split, final=True)
    finally:
        for writer in writers.values():
            writer.close()
    result = {s: (str(folder / f"{s}.parquet"), n) for s, n in counts.items() if n}
    manifest.write_text(json.dumps(result))
    return result
