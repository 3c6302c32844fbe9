"""Sequence files as people keep them: the records `identify`, `embed` and the reference reader
(`bioscan_hf.search.references`) read.

Taxonomy in FASTA headers (`taxonomy_from_header`), in SINTAX form
(`>id;tax=o:Diptera,f:Culicidae,g:Aedes,s:Aedes_aegypti;`) or BOLD's (`>processid|taxon|marker|BIN`, the
taxon's rank read from its form: two words a species, `-idae` a family, `-inae` a subfamily, an insect
order's name an order, any other single word a genus).

Queries (`iter_queries`): FASTA (each record separately), TSV/CSV with an id and a sequence column, a
BOLD TSV or a prepared dataset split (both carry the true taxonomy, so results can be scored), or a
folder of photos. Queries are read as a stream, record by record.

A record that cannot be used (not DNA, empty, no id, a repeated id, a malformed line) is an
`InputError` naming file, line and record, and saying what to do; with `skip_bad=True` it is listed in
`Problems` instead and the caller writes that list out. Nothing is dropped unmentioned.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from bioscan_hf.core.barcodes import barcode_key, barcode_problem
from bioscan_hf.core.errors import InputError, MissingFileError
from bioscan_hf.core.outputs import companion, write_atomically
from bioscan_hf.core.paths import hash_file, id_problem, text_problem, user_path
from bioscan_hf.data.bold import REQUIRED_COLUMNS as BOLD_COLUMNS
from bioscan_hf.data.bold import ImportReport, bold_header, iter_bold_rows
from bioscan_hf.data.images import IMAGE_SUFFIXES, ImageDecodeError, decode_image
from bioscan_hf.data.prepared import completed_configs
from bioscan_hf.data.schema import CALL_RANKS, NAME_SUFFIX, SPLITS, explode_split
from bioscan_hf.data.selection import config_files, distinct_and_codes, shard_with

#: Records read from Parquet at a time into a reference table (bounds the Arrow memory of the read).
_TABLE_BATCH = 262_144
FASTA_SUFFIXES = (".fa", ".fasta", ".fas", ".fna", ".fa.gz", ".fasta.gz", ".fas.gz", ".fna.gz")
ID_COLUMNS = ("id", "processid", "sampleid", "name", "seqid")
SEQUENCE_COLUMNS = ("sequence", "dna_barcode", "nucleotides", "barcode", "seq")
SINTAX_RANKS = {"o": "order", "f": "family", "sf": "subfamily", "g": "genus", "s": "species"}
#: What ends a FASTA header's id (whitespace, `;` of a SINTAX header, `|` of a BOLD one).
_ID_END = re.compile(r"[\s;|]")
#: A SINTAX header's taxonomy.
_SINTAX_TAX = re.compile(r"tax=([^;]*)")
INSECT_ORDERS = frozenset(
    "Archaeognatha Blattodea Coleoptera Dermaptera Diptera Embioptera Ephemeroptera Hemiptera Hymenoptera "
    "Lepidoptera Mantodea Mecoptera Megaloptera Neuroptera Odonata Orthoptera Phasmatodea Plecoptera "
    "Psocodea Raphidioptera Siphonaptera Strepsiptera Thysanoptera Trichoptera Zoraptera Zygentoma".split()
)


@dataclass
class Problems:
    """Records left out because the user asked to skip unusable ones: (file, line, record, reason)."""

    skip: bool = False
    rows: list[tuple[str, int | None, str, str]] = field(default_factory=list)

    def add(self, path: str | os.PathLike, line: int | None, record: str, reason: str, advice: str) -> None:
        """Record a problem, or raise it when not skipping (`line` None: a file with no lines, a photo)."""
        if not self.skip:
            where = f"{path} line {line}" if line is not None else str(path)
            raise InputError(f"{where} ({record or 'no id'}): {reason}; {advice}")
        self.rows.append((str(path), line, record, reason))

    def to_frame(self) -> pd.DataFrame:
        """The skipped records, one row each."""
        return pd.DataFrame(self.rows, columns=SKIPPED_COLUMNS)


#: Columns of the list of skipped records (`<output stem>.skipped.tsv`).
SKIPPED_COLUMNS = ["file", "line", "record", "reason"]


def skipped_path(out: Path) -> Path:
    """Where the records a run left out (`--skip-bad`) are listed: `<out stem>.skipped.tsv` beside `out`."""
    return companion(out, "skipped", ".tsv")


def write_skipped(out: Path, problems: Problems) -> pd.DataFrame:
    """List the records a run left out beside `out` (no file when none were); returns them."""
    skipped = problems.to_frame()
    if len(skipped):
        write_atomically(skipped_path(out), lambda path: skipped.to_csv(path, sep="\t", index=False))
    return skipped


SKIP_ADVICE = "fix or remove the record, or pass --skip-bad to leave such records out (they are listed)"


@dataclass
class Query:
    """One query: a barcode or a photo path; its true taxonomy where the source carries one."""

    id: str
    sequence: str | None = None
    image: str | None = None
    truth: dict[str, str | None] | None = None


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a plain or gzip-compressed UTF-8 file. A gzip stream that ends early or is
    damaged, a `.gz` that is not gzip, and bytes that are not UTF-8 are `InputError`s naming the file, the
    line (and byte offset) and what to do."""
    number, offset = 0, 0
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
            for chunk in handle:
                for raw in chunk.splitlines(keepends=True):  # \n, \r\n and a lone \r all end a line
                    number += 1
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError as err:
                        raise InputError(
                            f"{path} line {number}: byte {offset + err.start} (0x{raw[err.start]:02x}) is not UTF-8 "
                            "text (encoding tried: UTF-8); save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                        ) from None
                    offset += len(raw)
                    yield number, text
    except gzip.BadGzipFile:
        raise InputError(
            f"{path}: named .gz but not gzip-compressed; rename it without .gz, or compress it with gzip"
        ) from None
    except (EOFError, zlib.error) as err:
        raise InputError(
            f"{path}: the gzip stream ends early or is damaged after line {number} ({err}); the file is truncated: "
            "copy or download it again"
        ) from None


def _first_line(path: Path) -> str:
    return next((text for _, text in text_lines(path)), "")


def is_fasta(path: Path) -> bool:
    """True for a FASTA file (by name, or by a first non-blank character `>`)."""
    if path.name.lower().endswith(FASTA_SUFFIXES):
        return True
    if not path.is_file():
        return False
    for _, line in text_lines(path):
        if line.strip():
            return line.lstrip("\ufeff").lstrip().startswith(">")
    return False


def is_bold_tsv(path: Path) -> bool:
    header = bold_header(_first_line(path).rstrip("\r\n").split("\t"))
    return all(column in header for column in BOLD_COLUMNS)


def is_prepared_dataset(path: Path) -> bool:
    """True for a folder written by `bioscan-hf prepare`."""
    return path.is_dir() and (path / "README.md").is_file() and bool(completed_configs(path))


def fasta_records(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[str | None, str, int]]:
    """(header, sequence, line of the header) of each record of FASTA text given as (line number, line);
    text before the first `>` comes as a record whose header is None. A byte-order mark is not text. The
    package's one FASTA reader: files (`iter_fasta`) and pasted queries (`search.queries`) alike."""
    header, parts, start = None, [], 0
    for number, raw in lines:
        line = raw.lstrip("\ufeff").strip()
        if line.startswith(">"):
            if header is not None or parts:
                yield header, "".join(parts), start
            header, parts, start = line[1:].strip(), [], number
        elif line:
            if header is None and not parts:
                start = number
            parts.append(line)
    if header is not None or parts:
        yield header, "".join(parts), start


def iter_fasta(path: Path, problems: Problems) -> Iterator[tuple[str, str, str, int]]:
    """(id, header, cleaned barcode, header line) of each usable FASTA record; unusable ones to `problems`."""
    seen: set[str] = set()
    for header, text, line in fasta_records(text_lines(path)):
        if header is None:
            raise InputError(f"{path} line {line}: sequence text before the first '>' header; not FASTA")
        record = _ID_END.split(header, maxsplit=1)[0]
        problem = barcode_problem(text)
        unsafe = _id_problem_named(record)
        unsafe = unsafe or ((what := text_problem(header)) and f"the header {what}")
        if not record:
            problems.add(path, line, "", "the header has no id", SKIP_ADVICE)
        elif unsafe:
            problems.add(path, line, record, unsafe, SKIP_ADVICE)
        elif record in seen:
            problems.add(path, line, record, "the id is repeated (an earlier record has it)", SKIP_ADVICE)
        elif problem:
            problems.add(path, line, record, problem, SKIP_ADVICE)
        else:
            seen.add(record)
            yield record, header, barcode_key(text), line


def _id_problem_named(record: str) -> str | None:
    """Why a record's id cannot name a file (`id_problem`), as a skip reason naming the id, or None."""
    why = id_problem(record)
    return why and f"the id {record!r} {why}"


def taxonomy_from_header(header: str) -> dict[str, str | None]:
    """Ranks named by a SINTAX (`tax=o:…,g:…,s:…`) or BOLD (`id|taxon|marker|BIN`) FASTA header."""
    ranks: dict[str, str | None] = dict.fromkeys(CALL_RANKS)
    sintax = _SINTAX_TAX.search(header) if "tax=" in header else None
    if sintax:
        for item in sintax.group(1).split(","):
            code, _, name = item.partition(":")
            if code.strip() in SINTAX_RANKS and name.strip():
                ranks[SINTAX_RANKS[code.strip()]] = name.strip().replace("_", " ")
        return ranks
    fields = [f.strip() for f in header.split("|")]
    taxon = fields[1] if len(fields) > 1 else ""
    if len(fields) > 3 and fields[3].startswith("BOLD:"):
        ranks["dna_bin"] = fields[3]
    words = taxon.split()
    if len(words) >= 2:
        ranks["species"], ranks["genus"] = taxon, words[0]
    elif taxon.endswith("idae"):
        ranks["family"] = taxon
    elif taxon.endswith("inae"):
        ranks["subfamily"] = taxon
    elif taxon in INSECT_ORDERS:
        ranks["order"] = taxon
    elif taxon:
        ranks["genus"] = taxon
    return ranks


def bold_records(path: Path, problems: Problems) -> Iterator[dict]:
    report = ImportReport()
    seen: set[str] = set()
    for row in iter_bold_rows([path], report):
        line = int(row["_where"].rsplit(" ", 1)[1])
        pid = row["processid"]
        if row.get("markercode", "COI-5P") != "COI-5P":
            continue  # another marker: not a COI barcode (counted by the caller's total, not an error)
        problem = barcode_problem(row["nucleotides"])
        if problem or not pid or pid in seen:
            reason = problem or ("no processid" if not pid else "the processid is repeated")
            problems.add(path, line, pid, reason, SKIP_ADVICE)
            continue
        seen.add(pid)
        ranks = {r: row.get(f"{r}_name") or None for r in CALL_RANKS if r != "dna_bin"}
        yield {
            "processid": pid,
            "dna_barcode": barcode_key(row["nucleotides"]),
            **ranks,
            "dna_bin": row.get("bin_uri") or None,
            "country": row.get("country") or None,
            "_line": line,
        }
    for pid, why in report.unusable:  # malformed lines found by the TSV reader
        line = int(m.group(1)) if (m := re.search(r"line (\d+)", why)) else 0
        problems.add(path, line, pid, why, SKIP_ADVICE)


def dataset_table(folder: Path, splits: tuple[str, ...] | None) -> pd.DataFrame:
    """The records of a prepared dataset's `splits` (None: all; any name bioscan-dataset takes: `seen`,
    `unseen`, `validation`, `train+key_unseen`), labels as names, with each one's split, in the order
    `load_dataset` gives them.

    Read from the Parquet shards a batch at a time (only these columns, the labels from their name
    columns), not from `datasets`' memory-mapped Arrow cache, whose pages would stay resident for the whole
    read; a value repeated (a barcode, a label, a country) is one Python object however many records carry
    it, so 5.15M records hold ~2M barcode strings."""
    shards: dict[str, list[Path]] = {}  # each chosen split's Parquet files, in the order named
    for spec in ("all",) if splits is None else splits:  # split names as bioscan-dataset takes them
        try:
            named = explode_split(spec)
            files = config_files(folder, "metadata", tuple(named))
        except ValueError as err:
            raise InputError(f"{folder}: {err}") from None
        if len(named) == 1 and not files[named[0]]:
            have = [s for s, paths in config_files(folder, "metadata", SPLITS).items() if paths]
            raise InputError(f"{folder} has no split {named[0]}; it has {', '.join(have)}")
        shards.update({s: files[s] for s in named if files[s] and s not in shards})
    sources = {**{rank: f"{rank}{NAME_SUFFIX}" for rank in CALL_RANKS}, "country": "country"}
    wanted = ["processid", "dna_barcode", *sources.values()]
    barcodes: dict[str, str] = {}  # one object per distinct cleaned barcode, across batches and splits
    labels: dict[str, str] = {}  # the same for labels and countries

    def barcode(text: str) -> str:
        return _interned(barcode_key(text), barcodes)

    def label(text: str) -> str:
        return _interned(text, labels)

    columns: dict[str, list[np.ndarray]] = {name: [] for name in ["processid", "dna_barcode", *sources, "split"]}
    for split, paths in shards.items():
        for path in paths:
            for batch in shard_with(path, wanted).iter_batches(batch_size=_TABLE_BATCH, columns=wanted):
                columns["processid"].append(batch.column("processid").to_numpy(zero_copy_only=False))
                columns["dna_barcode"].append(_shared_values(batch.column("dna_barcode"), barcode))
                for name, source in sources.items():
                    columns[name].append(_shared_values(batch.column(source), label))
                columns["split"].append(np.full(batch.num_rows, split, dtype=object))
    table = {name: np.concatenate(parts) if parts else np.zeros(0, dtype=object) for name, parts in columns.items()}
    pa.default_memory_pool().release_unused()  # Arrow's pool keeps freed buffers otherwise
    return pd.DataFrame(table, columns=["processid", "dna_barcode", *CALL_RANKS, "country", "split"], dtype=object)


def _shared_values(column: pa.Array, clean: Callable[[str], str] | None = None) -> np.ndarray:
    """An Arrow string column as Python objects, one per distinct value (`clean`ed once each; None stays)."""
    distinct, codes = distinct_and_codes(pa.chunked_array([column]))
    return np.asarray([*(clean(v) if clean else v for v in distinct), None], dtype=object)[codes]


def _interned(text: str, shared: dict[str, str]) -> str:
    """The one object standing for `text` in `shared`."""
    return shared.setdefault(text, text)


def _delimited_queries(path: Path, problems: Problems) -> Iterator[Query]:
    expected = "\t" if path.name.lower().removesuffix(".gz").endswith((".tsv", ".txt")) else ","
    reader = csv.reader((text for _, text in text_lines(path)), dialect="excel-tab" if expected == "\t" else "excel")
    raw_header = next(reader, [])
    header = [h.strip().lstrip("\ufeff").lower() for h in raw_header]
    id_col = next((header.index(c) for c in ID_COLUMNS if c in header), None)
    seq_col = next((header.index(c) for c in SEQUENCE_COLUMNS if c in header), None)
    if id_col is None or seq_col is None:
        found = next((d for d in "\t,;|" if d != expected and len(header) == 1 and d in header[0]), None)
        names = {"\t": "tabs", ",": "commas", ";": "semicolons", "|": "bars"}
        hint = (
            f"; the file is separated by {names[found]}, not {names[expected]}: save it with {names[expected]} "
            "(a .csv holds commas, a .tsv tabs)"
            if found
            else ""
        )
        raise InputError(
            f"{path} line 1: need an id column ({', '.join(ID_COLUMNS)}) and a sequence column "
            f"({', '.join(SEQUENCE_COLUMNS)}); the header has {', '.join(header) or 'nothing'}{hint}"
        )
    seen: set[str] = set()
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if [cell.strip().lower() for cell in row] == header:
            raise InputError(f"{path} line {number}: the header line again (two files joined?); remove that line")
        if len(row) != len(header):
            problems.add(path, number, row[0] if row else "", f"{len(row)} fields, expected {len(header)}", SKIP_ADVICE)
            continue
        record, text = row[id_col].strip(), row[seq_col]
        problem = barcode_problem(text) or _id_problem_named(record)
        if not record or record in seen or problem:
            reason = problem or ("no id" if not record else "the id is repeated")
            problems.add(path, number, record, reason, SKIP_ADVICE)
            continue
        seen.add(record)
        yield Query(record, sequence=barcode_key(text))


def source_digest(source: str | os.PathLike, split: str | None = None) -> str:
    """A digest of what a source holds (not where it is): a file's bytes; a prepared dataset's finished
    configs (their build fingerprints) and the split read; a folder's files, names and bytes. Resumes and
    provenance key on it."""
    path = user_path(source)
    digest = hashlib.sha256()
    if is_prepared_dataset(path):
        fingerprints = {n: m.get("fingerprint") for n, m in completed_configs(path).items()}
        digest.update(json.dumps({"split": split, "configs": fingerprints}).encode())
        return digest.hexdigest()[:16]
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.is_file() else []
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode() + b"\0")
        hash_file(digest, file)
    return digest.hexdigest()[:16]


def iter_queries(source: str | os.PathLike, split: str = "test", problems: Problems | None = None) -> Iterator[Query]:
    """The queries of `source`, one by one (see the module docstring for the formats)."""
    path = user_path(source)
    problems = problems if problems is not None else Problems()
    if is_prepared_dataset(path):
        table = dataset_table(path, (split,))
        for row in table.itertuples(index=False):
            truth = {rank: getattr(row, rank) for rank in CALL_RANKS}
            yield Query(row.processid, sequence=row.dna_barcode, truth=truth)
    elif path.is_dir():
        photos = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            raise InputError(f"{path}: a folder of queries must hold photos ({', '.join(IMAGE_SUFFIXES)})")
        for photo in photos:
            try:
                decode_image(photo, str(photo))  # a broken photo is named here, before any model runs
            except ImageDecodeError as err:
                problems.add(photo, None, photo.stem, str(err).removeprefix(f"{photo}: "), SKIP_ADVICE)
                continue
            yield Query(photo.stem, image=str(photo))
    elif not path.is_file():
        raise MissingFileError(f"{path}: no such query file or folder")
    elif is_fasta(path):
        for record, header, barcode, _ in iter_fasta(path, problems):
            taxonomy = taxonomy_from_header(header)  # SINTAX or BOLD headers carry the query's taxonomy
            yield Query(record, sequence=barcode, truth=taxonomy if any(taxonomy.values()) else None)
    elif is_bold_tsv(path):
        for row in bold_records(path, problems):
            yield Query(row["processid"], sequence=row["dna_barcode"], truth={r: row[r] for r in CALL_RANKS})
    else:
        yield from _delimited_queries(path, problems)
