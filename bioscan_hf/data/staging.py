"""What one streaming pass over a release's metadata CSV derives, cached per file (`file_key`): the label
names and split counts (`release_summary`), and each split's typed rows staged as Parquet (`stage_splits`)
with every record checked on the way (no processid, an unsafe one, a control character, a barcode that is not
DNA, a processid used twice: an error naming file, line and processid). The reader itself is `metadata`."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bioscan_hf.core.barcodes import NOT_DNA_TEXT, barcode_problem
from bioscan_hf.core.outputs import write_atomically
from bioscan_hf.core.paths import CONTROL_CHARACTERS, UNSAFE_ID, cache_dir, id_problem, text_problem, user_path
from bioscan_hf.data.metadata import MetadataError, iter_metadata, iter_metadata_lines, read_header, record_location
from bioscan_hf.data.schema import DERIVED_COLUMNS, LABEL_COLUMNS, METADATA_COLUMNS, ROW_COLUMN, SPLITS

#: Bumped when staging checks more (staged files of older versions are not trusted).
STAGING_VERSION = 4


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
