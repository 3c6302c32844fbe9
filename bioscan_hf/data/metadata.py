"""Streaming reader for the BIOSCAN-5M metadata CSV, plain or inside the metadata zip.

The release CSV is ~4 GB. Users today parse all of it with pandas and then filter; here Arrow's streaming CSV
reader parses it block by block, types each column once (SPEC §1.2) and keeps only the rows of the requested
splits, so memory stays bounded by one block plus the result."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bioscan_hf.core.barcodes import NOT_DNA_TEXT, barcode_problem
from bioscan_hf.core.errors import MissingFileError, UserError
from bioscan_hf.core.outputs import write_atomically
from bioscan_hf.core.paths import CONTROL_CHARACTERS, UNSAFE_ID, cache_dir, id_problem, text_problem, user_path
from bioscan_hf.data.schema import (
    DERIVED_COLUMNS,
    LABEL_COLUMNS,
    METADATA_COLUMNS,
    METADATA_CSV_PATH,
    ROW_COLUMN,
    SPLITS,
    resolve_split,
)

#: Bytes parsed per Arrow block; bounds the reader's working memory.
BLOCK_SIZE = 16 << 20
#: Bumped when staging checks more (staged files of older versions are not trusted).
STAGING_VERSION = 4
#: Errors raised by a damaged file under Arrow's reader (a bad zip member raises zlib/BadZipFile).
_READ_ERRORS = (pa.ArrowInvalid, zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError)


class MetadataError(UserError, ValueError):
    """The metadata file is missing columns, truncated or holds values outside the schema."""


@contextlib.contextmanager
def open_metadata(source: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Open the metadata CSV for binary reading, whether `source` is the CSV or the metadata zip."""
    source = user_path(source)
    if not source.exists():
        raise MissingFileError(f"metadata file not found: {source}")
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


_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "bars"}


def read_header(source: str | os.PathLike) -> list[str]:
    """Column names of the metadata CSV, checked against the schema (missing columns are an error)."""
    try:
        with open_metadata(source) as handle:
            line = handle.readline().decode("utf-8-sig").rstrip("\r\n")
    except _READ_ERRORS as err:
        raise MetadataError(f"{source} line 1: cannot read the header ({type(err).__name__}: {err})") from err
    if not line:
        raise MetadataError(f"{source}: empty metadata file")
    try:
        columns = next(csv.reader([line]))
    except csv.Error as err:  # e.g. a carriage return inside the line
        raise MetadataError(
            f"{source} line 1: the header is not a CSV line ({err}); use the file as downloaded"
        ) from err
    missing = [c for c in METADATA_COLUMNS if c not in columns]
    found = next((name for d, name in _DELIMITERS.items() if len(columns) == 1 and d in line), None)
    if missing and found:
        raise MetadataError(
            f"{source} line 1: the header is one column: the file is separated by {found}, where the release's "
            "metadata CSV uses commas; save it with commas (e.g. as CSV from a spreadsheet), or use it as downloaded"
        )
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
    float text become integers. A truncated or malformed file raises `MetadataError` naming the file,
    the line (from the file start) and the processid."""
    for batch, _ in iter_metadata_lines(source, splits, columns, block_size):
        yield batch


def iter_metadata_lines(
    source: str | os.PathLike,
    splits: Iterable[str] | None = None,
    columns: Iterable[str] | None = None,
    block_size: int = BLOCK_SIZE,
) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
    """`iter_metadata`, with the file line of every row of each batch beside it."""
    header = read_header(source)
    wanted = list(header if columns is None else columns)
    unknown = [c for c in wanted if c not in header]
    if unknown:
        raise MetadataError(f"{source}: no column(s) {', '.join(unknown)}; columns are {', '.join(header)}")
    split_set = None if splits is None else {resolve_split(s) for s in splits}
    # `split` is checked on every row (also rows a filter drops); `processid` names rows in errors.
    parsed = wanted + [c for c in ("split", "processid") if c in header and c not in wanted]
    convert = pacsv.ConvertOptions(
        column_types=column_types(header),
        include_columns=parsed,
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    # Blank lines are not skipped, so a record's line is its row number + 2 (records never span lines:
    # Arrow refuses newlines inside values by default).
    parse = pacsv.ParseOptions(ignore_empty_lines=False)
    split_filter = None if split_set is None else pa.array(sorted(split_set))
    first_row = 0  # rows of the file before the current batch
    with open_metadata(source) as handle:
        try:
            reader = pacsv.open_csv(
                handle,
                read_options=pacsv.ReadOptions(block_size=block_size),
                parse_options=parse,
                convert_options=convert,
            )
            for batch in reader:
                lines = pa.array(range(first_row + 2, first_row + 2 + batch.num_rows), pa.int64())
                first_row += batch.num_rows
                if "split" in header:
                    _check_splits(batch, source, lines)
                if split_filter is not None:
                    keep = pc.is_in(batch.column("split"), value_set=split_filter)
                    batch, lines = batch.filter(keep), lines.filter(keep)
                if batch.num_rows:
                    yield _finish_types(batch, wanted, source, lines), lines
        except MetadataError:
            raise
        except _READ_ERRORS as err:
            raise MetadataError(locate_problem(source, header, first_row, err)) from err


def locate_problem(source: str | os.PathLike, header: list[str], first_row: int, err: Exception) -> str:
    """A message for a CSV Arrow could not read: the first bad line at or after row `first_row`, found
    by re-reading the file with Python (only on the error path), with its processid and what to do."""
    where = f"{source}: malformed or truncated metadata CSV ({type(err).__name__}: {err})"
    types = {c: METADATA_COLUMNS.get(c) for c in header}
    try:
        with open_metadata(source) as handle:
            for line_no, raw in enumerate(handle, start=1):
                if line_no < first_row + 2:
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as bad:
                    return (
                        f"{source} line {line_no} ({_pid_of(raw)}): not UTF-8 text (byte {raw[bad.start]:#04x} at "
                        f"character {bad.start + 1}); re-save the file as UTF-8 or fix that line"
                    )
                try:
                    values = next(csv.reader([text.rstrip("\r\n")]), [])
                except csv.Error as bad:  # e.g. a carriage return inside the line
                    return (
                        f"{source} line {line_no} ({_pid_of(raw)}): not a CSV line ({bad}); download it again or fix it"
                    )
                pid = f"processid {values[0]!r}" if values and values[0] else "no processid"
                if len(values) != len(header):
                    shown = "an empty line" if not text.strip() else f"{len(values)} fields"
                    return (
                        f"{source} line {line_no} ({pid}): {shown}, expected {len(header)}; "
                        "the file is damaged or truncated there: download it again or fix that line"
                    )
                for name, value in zip(header, values):
                    problem = _value_problem(types[name], value)
                    if problem:
                        return f"{source} line {line_no} ({pid}): column {name!r}: {problem}; fix or remove that line"
    except _READ_ERRORS as again:
        return f"{where}; the file cannot be read past line ~{first_row + 2} ({again}): download it again"
    return f"{where}, at or after line {first_row + 2}"


def _pid_of(raw: bytes) -> str:
    pid = raw.split(b",", 1)[0].decode("utf-8", errors="replace")
    return f"processid {pid!r}" if pid else "no processid"


def _value_problem(target: pa.DataType | None, value: str) -> str | None:
    if not value or target is None or not (pa.types.is_floating(target) or pa.types.is_integer(target)):
        return None
    try:
        number = float(value)
    except ValueError:
        return f"{value!r} is not a number"
    if pa.types.is_integer(target) and not number.is_integer():
        return f"{value!r} is not an integer"
    return None


def _finish_types(
    batch: pa.RecordBatch, wanted: list[str], source: str | os.PathLike, lines: pa.Array
) -> pa.RecordBatch:
    arrays, fields = [], []
    for name in wanted:
        array = batch.column(name)
        target = METADATA_COLUMNS.get(name, pa.string())
        if pa.types.is_integer(target):
            array = _to_integer(array, target, name, batch, source, lines)
        arrays.append(array)
        fields.append(pa.field(name, target))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _to_integer(
    array: pa.Array, target: pa.DataType, name: str, batch: pa.RecordBatch, source, lines: pa.Array
) -> pa.Array:
    try:
        return pc.cast(array, target)  # safe cast: refuses fractions and overflow
    except pa.ArrowInvalid as err:
        fractional = pc.fill_null(pc.not_equal(pc.floor(array), array), False)
        row = max(pc.index(fractional, True).as_py(), 0)
        raise MetadataError(
            f"{record_location(source, batch, lines, row)}: column {name!r} must be an integer, "
            f"got {array[row].as_py()!r}; fix or remove that line"
        ) from err


def record_location(source, batch: pa.RecordBatch, lines: pa.Array, row: int) -> str:
    """'FILE line N (processid X)' for a row of a batch, for error messages."""
    pid = batch.column("processid")[row].as_py() if "processid" in batch.schema.names else None
    return f"{source} line {lines[row].as_py()} ({f'processid {pid!r}' if pid else 'no processid'})"


def _check_splits(batch: pa.RecordBatch, source, lines: pa.Array) -> None:
    array = batch.column("split")
    invalid = pc.invert(pc.fill_null(pc.is_in(array, value_set=pa.array(SPLITS)), False))
    if pc.any(invalid).as_py():
        row = pc.index(invalid, True).as_py()
        where = f"{source} line {lines[row].as_py()}"
        if all(column[row].as_py() is None for column in batch.columns):
            raise MetadataError(f"{where}: an empty line inside the file; remove it (a damaged copy?)")
        if array[row].as_py() == "split":
            raise MetadataError(f"{where}: the header line again (two files joined?); remove that line")
        raise MetadataError(
            f"{record_location(source, batch, lines, row)}: unknown split {array[row].as_py()!r}; "
            f"valid splits: {', '.join(SPLITS)}"
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
    source = user_path(source)
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
    write_atomically(cached, lambda path: path.write_text(json.dumps(summary)))
    return summary


def label_names(source: str | os.PathLike) -> dict[str, list[str]]:
    """Names of each label column in index order (see `release_summary`)."""
    return release_summary(source)["labels"]


def check_records(source: str | os.PathLike, batch: pa.RecordBatch, lines: pa.Array) -> None:
    """Refuse records a release cannot hold: no processid, or a barcode that is empty or not DNA."""
    pid = batch.column("processid")
    missing = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(pid), ""), True)
    if pc.any(missing).as_py():
        row = pc.index(missing, True).as_py()
        raise MetadataError(
            f"{source} line {lines[row].as_py()}: empty processid; every record needs one (it names the image "
            "file): fix or remove that line"
        )
    unsafe = pc.fill_null(pc.match_substring_regex(pid, UNSAFE_ID), False)
    if pc.any(unsafe).as_py():
        row = pc.index(unsafe, True).as_py()
        value = pid[row].as_py()
        raise MetadataError(
            f"{source} line {lines[row].as_py()}: processid {value!r} {id_problem(value)}; a processid names the "
            "record's image file, so it may hold no path separator, '..' or control character: fix or remove that line"
        )
    check_text_fields(source, batch, lines)
    barcode = batch.column("dna_barcode")
    bad = pc.or_(
        pc.fill_null(pc.match_substring_regex(barcode, NOT_DNA_TEXT), False),
        pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(barcode)), 0), True),
    )
    if pc.any(bad).as_py():
        row = pc.index(bad, True).as_py()
        text = barcode[row].as_py()
        problem = barcode_problem(text) or "empty barcode"
        raise MetadataError(
            f"{record_location(source, batch, lines, row)}: dna_barcode {problem}; a barcode holds A, C, G, T, N "
            "(IUPAC codes, gaps): fix or remove that line"
        )


def check_text_fields(source: str | os.PathLike, batch: pa.RecordBatch, lines: pa.Array) -> None:
    """Refuse a control character (a NUL, an escape…) in any text column: it would become part of a label."""
    for name, column in ((n, c) for n, c in zip(batch.schema.names, batch.columns) if pa.types.is_string(c.type)):
        bad = pc.fill_null(pc.match_substring_regex(column, CONTROL_CHARACTERS), False)
        if pc.any(bad).as_py():
            row = pc.index(bad, True).as_py()
            raise MetadataError(
                f"{record_location(source, batch, lines, row)}: column {name!r} "
                f"{text_problem(column[row].as_py())}; remove it from that line (a damaged or mis-encoded copy?)"
            )


def check_unique_processids(source: str | os.PathLike, ids: list[tuple[pa.Array, pa.Array, pa.Array]]) -> None:
    """Refuse a processid used twice (a repeated row, or one record in two splits), naming the lines."""
    if not ids:
        return
    table = pa.table(
        {
            "processid": pa.concat_arrays([p for p, _, _ in ids]),
            "split": pa.concat_arrays([s for _, s, _ in ids]),
            "line": pa.concat_arrays([n for _, _, n in ids]),
        }
    )
    counts = table.group_by("processid").aggregate([("line", "count")])
    repeated = counts.filter(pc.greater(counts.column("line_count"), 1))
    if repeated.num_rows == 0:
        return
    examples = []
    for pid in repeated.column("processid").to_pylist()[:3]:
        rows = table.filter(pc.equal(table.column("processid"), pid)).to_pylist()
        where = ", ".join(f"line {r['line']} ({r['split']})" for r in rows)
        examples.append(f"processid {pid!r} on {where}")
    raise MetadataError(
        f"{source}: {repeated.num_rows} processid(s) used by more than one line: "
        + "; ".join(examples)
        + ". A processid names one record and its image: remove the repeated lines (or fix their ids)"
    )


def stage_splits(source: str | os.PathLike, rows_per_group: int) -> dict[str, tuple[str, int]]:
    """Write each split's typed rows to its own Parquet file, `rows_per_group` rows per row group, each
    with its row in the file (`metadata_row`).

    One streaming pass over the CSV, cached per file: builders then read any shard (one row group)
    directly instead of re-parsing the whole CSV per shard. Returns split → (path, rows)."""
    source = user_path(source)
    folder = cache_dir() / "staged" / f"{file_key(source)}-{rows_per_group}-{STAGING_VERSION}"
    manifest = folder / "manifest.json"
    if manifest.exists():
        return {k: tuple(v) for k, v in json.loads(manifest.read_text()).items()}
    folder.mkdir(parents=True, exist_ok=True)
    header = read_header(source)
    schema = pa.schema([pa.field(c, METADATA_COLUMNS.get(c, pa.string())) for c in header])
    schema = schema.append(pa.field(ROW_COLUMN, DERIVED_COLUMNS[ROW_COLUMN]))
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

    ids: list[tuple[pa.Array, pa.Array, pa.Array]] = []
    try:
        for batch, lines in iter_metadata_lines(source):
            check_records(source, batch, lines)
            ids.append((batch.column("processid"), batch.column("split"), lines))
            table = pa.Table.from_batches([batch]).append_column(ROW_COLUMN, pc.subtract(lines, 2).cast(pa.int64()))
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
    check_unique_processids(source, ids)
    result = {s: (str(folder / f"{s}.parquet"), n) for s, n in counts.items() if n}
    manifest.write_text(json.dumps(result))
    return result
