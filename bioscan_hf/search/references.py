"""Reference libraries for identification: a prepared dataset (chosen splits), an index folder of
`bioscan-hf index`, a BOLD combined TSV export, or a FASTA whose headers carry taxonomy (SINTAX or BOLD
form), read into one table with `REFERENCE_COLUMNS` (the record readers are the data layer's); `Reference`
groups that table by distinct barcode for the identify engine."""

from __future__ import annotations

import difflib
import hashlib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from bioscan_hf.core.barcodes import barcode_key
from bioscan_hf.core.errors import InputError, MissingFileError
from bioscan_hf.core.outputs import write_atomically
from bioscan_hf.core.paths import cache_dir, hash_file, user_path
from bioscan_hf.data.exclusions import exclusions
from bioscan_hf.data.schema import KEY_SPLITS
from bioscan_hf.data.sources import (
    CALL_RANKS,
    Problems,
    bold_records,
    dataset_table,
    is_bold_tsv,
    is_fasta,
    is_prepared_dataset,
    iter_fasta,
    taxonomy_from_header,
)
from bioscan_hf.search.bound import EncodedBarcodes, encode_barcodes
from bioscan_hf.search.contained import containers
from bioscan_hf.search.seeds import SeedIndex, seed_index
from bioscan_hf.search.settings import LibrarySettings
from bioscan_hf.search.spread import CHILD, loosest_siblings

#: Columns of a reference table (one row per reference record).
REFERENCE_COLUMNS: tuple[str, ...] = ("processid", "dna_barcode", *CALL_RANKS, "country")
#: What `Reference.lineage` gives of a record.
_LINEAGE = ("processid", *CALL_RANKS)
#: The form of the tables parsed from reference files and kept in the cache folder (`_parsed_file`): raised
#: whenever what a file parses into changes, so that no run reads a table an older parser kept.
PARSED_FORMAT = 1
#: Reference splits of a prepared dataset by default: BIOSCAN-5M's keys.


def read_references(
    source: str | os.PathLike,
    splits: tuple[str, ...] | None = KEY_SPLITS,
    problems: Problems | None = None,
    where: bool = False,
) -> pd.DataFrame:
    """A reference library as a table with `REFERENCE_COLUMNS`, one row per record (`splits` of a prepared
    dataset; None: all of them). `where`: also each record's place in the source, a `line` column (files:
    the line its record starts on) or a `split` column (prepared datasets)."""
    path = user_path(source)
    problems = problems if problems is not None else Problems()
    columns = list(REFERENCE_COLUMNS)
    if is_prepared_dataset(path):
        table = dataset_table(path, splits)
        columns += ["split"] if where else []
    elif path.is_dir() and (path / "keys.parquet").is_file():
        keys = pd.read_parquet(path / "keys.parquet")
        table = keys.reindex(columns=list(REFERENCE_COLUMNS))
        table["dna_barcode"] = [barcode_key(b) for b in table["dna_barcode"]]
    elif path.is_dir():
        raise InputError(f"{path} is neither a prepared dataset (bioscan-hf prepare) nor an index (bioscan-hf index)")
    elif not path.is_file():
        raise MissingFileError(f"{path}: no such reference file or folder")
    elif is_fasta(path):
        table = _parsed_file(path, problems, _fasta_table)
        columns += ["line"] if where else []
    elif is_bold_tsv(path):
        table = _parsed_file(path, problems, _bold_table)
        columns += ["line"] if where else []
    else:
        raise InputError(
            f"{path}: not a reference this tool reads; give a prepared dataset folder, an index folder, "
            "a BOLD TSV export or a FASTA with taxonomy in its headers"
        )
    if table.empty:
        raise InputError(f"{path}: no usable reference records")
    table = table.reindex(columns=columns)
    return table.astype(object).where(table.notna(), None).reset_index(drop=True)


def _fasta_table(path: Path, problems: Problems) -> pd.DataFrame:
    """The records of a FASTA whose headers carry taxonomy, with the line each starts on."""
    rows = [
        {"processid": rid, "dna_barcode": barcode, **taxonomy_from_header(header), "country": None, "line": line}
        for rid, header, barcode, line in iter_fasta(path, problems)
    ]
    table = pd.DataFrame(rows, columns=[*REFERENCE_COLUMNS, "line"])
    if table.empty or table[list(CALL_RANKS)].isna().all().all():
        raise InputError(
            f"{path}: no FASTA header carries a taxonomy; reference headers need SINTAX "
            "(>id;tax=o:Diptera,f:Culicidae,g:Aedes,s:Aedes_aegypti;) or BOLD (>processid|taxon|COI-5P|BIN) form"
        )
    return table


def _bold_table(path: Path, problems: Problems) -> pd.DataFrame:
    """The COI records of a BOLD TSV export, with the line each is on."""
    return pd.DataFrame(list(bold_records(path, problems))).rename(columns={"_line": "line"})


def _parsed_file(path: Path, problems: Problems, parse: Callable[[Path, Problems], pd.DataFrame]) -> pd.DataFrame:
    """`parse(path, problems)`, kept in the cache folder under the digest of the file's bytes once the file
    parsed whole (nothing skipped) and read back from there by later runs, as blastn reads a database made
    once: checking and parsing each record of a 34,049-record FASTA took ~1.5 s of every run, reading the
    kept table ~0.1 s. A file with skipped records is parsed at each run (its skipped list written each
    time); a kept table that cannot be read is parsed again."""
    kept = _kept_table_path(path)
    if kept is not None and kept.is_file():
        try:
            return pd.read_parquet(kept)
        except Exception:  # damaged, or written by another pyarrow: parse the file again
            pass
    skipped = len(problems.rows)
    table = parse(path, problems)
    if kept is not None and len(problems.rows) == skipped and _kept_table_path(path) == kept:  # unchanged since
        try:
            write_atomically(kept, lambda partial: table.to_parquet(partial, index=False))
        except OSError:  # a cache folder that cannot be written: the next run parses the file again
            pass
    return table


def _kept_table_path(path: Path) -> Path | None:
    """Where the table parsed from the reference file `path` is kept: the cache folder, named by the file's
    content, this version of bioscan-hf and `PARSED_FORMAT` (None: the file cannot be read, and parsing it
    says why)."""
    digest = hashlib.sha256(f"{version('bioscan-hf')} {PARSED_FORMAT}\n".encode())
    try:
        hash_file(digest, path)
    except OSError:
        return None
    return cache_dir() / "references" / f"{digest.hexdigest()[:32]}.parquet"


def within_mask(table: pd.DataFrame, within: str) -> pd.Series:
    """Which records are under the taxon `within`, named at any rank (case-insensitive)."""
    name = within.strip().casefold()
    return table[list(CALL_RANKS)].apply(lambda col: col.str.casefold() == name).any(axis=1)


def filter_references(table: pd.DataFrame, within: str | None = None, country: str | None = None) -> pd.DataFrame:
    """References under the taxon `within` (at any rank) and from `country` (case-insensitive); a name the
    library does not hold is refused with the nearest names it does."""
    keep = pd.Series(True, index=table.index)
    if within:
        keep &= _named(within_mask(table, within), "within", within, pd.concat([table[r] for r in CALL_RANKS]))
    if country:
        found = table["country"].fillna("").str.casefold() == country.strip().casefold()
        keep &= _named(found, "from", country, table["country"])
    kept = table[keep].reset_index(drop=True)
    if kept.empty:
        raise InputError(f"no reference record is within {within!r} and from {country!r}; loosen one of the two")
    return kept


def read_library(
    reference: str | os.PathLike, settings: LibrarySettings, problems: Problems | None = None
) -> tuple[pd.DataFrame, int]:
    """The records of a reference library (its `reference_splits` where it is a prepared dataset) less the
    suspects of `settings.exclude`, and how many suspects were left out."""
    table = read_references(reference, settings.reference_splits, problems)
    if not settings.exclude:
        return table, 0
    kept = without_suspects(table, exclusions(settings.exclude, settings.exclude_min_score), settings.exclude)
    return kept, len(table) - len(kept)


def without_suspects(table: pd.DataFrame, suspects: Mapping[str, str], source: str | os.PathLike) -> pd.DataFrame:
    """The references but the records of `suspects` (processid → why, from `source`: an audit of this
    library, or of a larger one holding it: suspects it does not hold are passed over). A file none of whose
    suspects is a reference record is refused: it audits another library."""
    found = table["processid"].isin(list(suspects))
    if suspects and not found.any():
        raise InputError(
            f"{source}: none of its {len(suspects):,} suspects is a record of the reference (first: "
            f"{next(iter(suspects))!r}); give the suspects file bioscan-hf audit wrote for this reference"
        )
    kept = table[~found].reset_index(drop=True)
    if kept.empty:
        raise InputError(f"{source}: every reference record is a suspect; nothing is left to identify against")
    return kept


def _named(found: pd.Series, relation: str, name: str, names: pd.Series) -> pd.Series:
    """`found`, or an error naming the nearest names of the library when it matches no record
    (`relation`: "within" a taxon, "from" a country)."""
    if found.any():
        return found
    known = sorted({str(n) for n in names.dropna().unique()})
    nearest = difflib.get_close_matches(name.strip(), known, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(nearest)}?" if nearest else f"the library holds {len(known):,} such names"
    option = "--within" if relation == "within" else "--country"
    raise InputError(f"{option}: no reference record is {relation} {name!r} (case-insensitive); {hint}")


class Reference:
    """A reference table grouped by distinct barcode, with label codes per rank for fast votes."""

    def __init__(self, table: pd.DataFrame, keys: tuple[np.ndarray, Sequence[str]] | None = None) -> None:
        """`keys`: each record's distinct-barcode key and the barcodes they number (`subset`: the library's,
        some carried by no record here); default: the table's barcodes, in the order they first come."""
        self.table = table
        codes, barcodes = keys if keys is not None else pd.factorize(table["dna_barcode"], sort=False)
        self.barcodes: list[str] = list(barcodes)
        #: distinct-barcode key of each record
        self.key_of_record = codes
        order = np.argsort(codes, kind="stable")
        self._records = order  # record rows grouped by barcode
        self._starts = np.searchsorted(codes[order], np.arange(len(barcodes) + 1))
        self.labels: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._key_labels: dict[str, np.ndarray] = {}
        for rank in CALL_RANKS:
            values, names = pd.factorize(table[rank], use_na_sentinel=True)
            self.labels[rank] = (values, np.asarray(names, dtype=object))
        self._seeds: SeedIndex | None = None
        self._loosest: dict[str, dict[str, float]] = {}

    def subset(self, rows: np.ndarray) -> Reference:
        """The records `rows` of this reference's table as a reference of their own that keeps this one's keys
        and searches its seed index, where the barcodes no record of `rows` carries are never listed
        (`SeedIndex.hiding`): a calibration's held-out folds each search the library less a share of it, and
        an index of each fold's own was built 8 times (at BIOSCAN-5M's size ~1.5 minutes and ~5 GB of the
        cache folder each). Its hits are those of a reference built from the same records (tests)."""
        subset = Reference(self.table.iloc[rows].reset_index(drop=True), (self.key_of_record[rows], self.barcodes))
        subset._seeds = self.seeds.hiding(subset.record_counts == 0)
        subset.__dict__["encoded"] = self.encoded  # (a `cached_property`: shared, not encoded again)
        return subset

    @cached_property
    def row_of(self) -> dict[str, int]:
        """Each record's row by processid (built on first use: only photo keys need it)."""
        return {pid: row for row, pid in enumerate(self.table["processid"])}

    @cached_property
    def encoded(self) -> EncodedBarcodes:
        """The distinct barcodes as one byte array, for the bound that skips alignments (`bound.beyond`)."""
        return encode_barcodes(self.barcodes)

    @cached_property
    def bases(self) -> int:
        """Bases of all distinct barcodes some record carries: the search space of an e-value (BLAST's database
        length)."""
        return sum(len(barcode) for barcode, records in zip(self.barcodes, self.record_counts) if records)

    @property
    def seeds(self) -> SeedIndex:
        """The spaced-seed index over the distinct barcodes (built on first use)."""
        if self._seeds is None:
            self._seeds = seed_index(self.barcodes, progress=len(self.barcodes) > 50_000)
        return self._seeds

    @cached_property
    def containers(self) -> np.ndarray:
        """For each distinct barcode, the first other that contains it exactly (`contained.containers`; −1:
        none)."""
        return containers(self.barcodes, self.seeds, self.encoded)

    def records(self, key: int) -> np.ndarray:
        """Rows of the table carrying distinct barcode `key`."""
        return self._records[self._starts[key] : self._starts[key + 1]]

    def records_of(self, keys: np.ndarray) -> np.ndarray:
        """Rows of the table carrying each of distinct barcodes `keys`, key after key (`records` of each, joined
        at once: a query's voters are dozens of barcodes)."""
        starts = self._starts[keys]
        counts = self._starts[np.asarray(keys) + 1] - starts
        ends = np.cumsum(counts)
        return self._records[np.arange(ends[-1] if len(ends) else 0) + np.repeat(starts - ends + counts, counts)]

    def representative(self, key: int) -> int:
        """The row standing for distinct barcode `key` in hits: its first record carrying the barcode's
        most common species (a barcode shared by two species is named by the better supported one)."""
        rows = self.records(key)
        values, _ = self.labels["species"]
        majority = self.key_codes("species")[key]
        if majority >= 0:
            rows = rows[values[rows] == majority]
        return int(rows[0])

    def lineage(self, key: int) -> dict:
        """The processid and the labels at each of `CALL_RANKS` of the record standing for distinct barcode `key`
        (`representative`)."""
        return dict(zip(_LINEAGE, self._lineages[self.representative(key)].tolist()))

    @cached_property
    def _lineages(self) -> np.ndarray:
        """`_LINEAGE`'s columns of the table, a row per record (a hit's lineage is read thousands of times a
        plate: a pandas row ~0.3 ms)."""
        return self.table[list(_LINEAGE)].to_numpy(dtype=object)

    def record_count(self, key: int) -> int:
        """How many records carry distinct barcode `key` (equal hits: the better supported first)."""
        return int(self.record_counts[key])

    @cached_property
    def record_counts(self) -> np.ndarray:
        """`record_count` of every distinct barcode (a plate's ~100,000 hits are sorted by it at once)."""
        return np.diff(self._starts)

    def vote(self, keys: Sequence[int], rank: str, without: int | None = None) -> tuple[str | None, int, int]:
        """(most common label, records carrying it, labelled records) over the records of `keys`; `without`:
        a record (row) left out of the count (an audit compares each record with the others)."""
        if not len(keys):
            return None, 0, 0
        rows = self.records_of(np.asarray(keys, dtype=np.int64))
        code, support, voters = self.vote_rows(rows if without is None else rows[rows != without], rank)
        return (None, 0, 0) if code < 0 else (str(self.labels[rank][1][code]), support, voters)

    def vote_rows(self, rows: np.ndarray, rank: str) -> tuple[int, int, int]:
        """(most common label's code, records carrying it, labelled records) over the records `rows`
        (code −1: none labelled; ties: the label met first in the reference table)."""
        labelled = self.labels[rank][0][rows]
        labelled = labelled[labelled >= 0]
        if not len(labelled):
            return -1, 0, 0
        counts = np.bincount(labelled)
        best = int(np.argmax(counts))
        return best, int(counts[best]), len(labelled)

    def key_label(self, key: int, rank: str, without: int | None = None) -> str | None:
        """The most common label at `rank` among the records of distinct barcode `key` (None: unlabelled;
        ties: the label met first in the table); `without`: a record (row) left out."""
        code = self.key_code(key, rank, without)
        return None if code < 0 else str(self.labels[rank][1][code])

    def key_code(self, key: int, rank: str, without: int | None = None) -> int:
        """`key_label` as a code of `labels[rank]` (−1: unlabelled)."""
        if without is not None and self.key_of_record[without] == key:
            rows = self.records(key)
            return self.vote_rows(rows[rows != without], rank)[0]
        return int(self.key_codes(rank)[key])

    def loosest_sibling(self, rank: str, label: str) -> float:
        """How far `label`'s subgroups at the rank below sit from their nearest sibling at most (NaN: fewer
        than two labelled subgroups)."""
        return self.loosest_siblings(rank).get(label, math.nan)

    def loosest_siblings(self, rank: str) -> dict[str, float]:
        """`search.spread.loosest_siblings` of every label at `rank` ({} at a rank with none below), measured on
        first use."""
        if rank not in self._loosest:
            below = self.labels[CHILD[rank]][0] if rank in CHILD else None
            self._loosest[rank] = (
                {} if below is None else loosest_siblings(*self.labels[rank], below, self.key_of_record, self.barcodes)
            )
        return self._loosest[rank]

    def key_codes(self, rank: str) -> np.ndarray:
        """Each distinct barcode's majority label at `rank` as a code (`labels[rank]`; −1: unlabelled)."""
        if rank not in self._key_labels:
            values, _ = self.labels[rank]
            frame = pd.DataFrame({"key": self.key_of_record, "label": values})
            counts = frame[frame["label"] >= 0].value_counts().rename("n").reset_index()
            top = counts.sort_values(["key", "n", "label"], ascending=[True, False, True]).drop_duplicates("key")
            codes = np.full(len(self.barcodes), -1, dtype=np.int64)
            codes[top["key"].to_numpy()] = top["label"].to_numpy()
            self._key_labels[rank] = codes
        return self._key_labels[rank]
