"""Streaming reader for the BIOSCAN-5M metadata CSV, plain or inside the metadata zip.

The release CSV is ~4 GB. Users today parse all of it with pandas and then filter; here Arrow's streaming CSV
reader parses it block by block, types each column once (SPEC §1.2) and keeps only the rows of the requested
splits, so memory stays bounded by one block plus the result."""

from __future__ import annotations

import contextlib
import csv
import os
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bioscan_hf.core.errors import MissingFileError, UserError
from bioscan_hf.core.moved import moved_names
from bioscan_hf.core.paths import user_path
from bioscan_hf.data.schema import (
    METADATA_COLUMNS,
    METADATA_CSV_PATH,
    SPLITS,
    resolve_split,
)

#: Bytes parsed per Arrow block; bounds the reader's working memory.
BLOCK_SIZE = 16 << 20
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


#: What one pass over the file derives moved to `bioscan_hf.data.staging` (these names warn until 0.3.0).
__getattr__ = moved_names(
    __name__,
    "bioscan_hf.data.staging",
    (
        "STAGING_VERSION",
        "file_key",
        "release_summary",
        "label_names",
        "stage_splits",
        "check_records",
        "check_text_fields",
        "check_unique_processids",
    ),
)
