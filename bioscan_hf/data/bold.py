"""Import BOLD "combined" TSV exports as a BIOSCAN-5M-style release (metadata only).

Every COI-5P row with a usable barcode is kept; rows that cannot be used (another marker, no sequence,
a barcode that is not DNA, a malformed line, a repeated processid) are listed in `import_report.tsv`
with their file and line, never silently dropped, and never written into the release. Rows kept but
changed (text that was not UTF-8, read as Latin-1; an annotation changed by the conflict rule) are
listed there too. Barcode policy: `bioscan_hf.core.barcodes`.

Conflicting annotations (BIOSCAN-5M appendix, "Conflicted annotations"): records sharing a barcode
should share a taxonomy. Per rank, coarse to fine, among the records of one barcode labelled at that
rank, the majority value is accepted for all if ≥ 90% agree; otherwise the annotation is cut at the
preceding rank (a cut ending on an `unassigned <Family>` filler goes back to the family).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bioscan_hf.core.barcodes import barcode_key, barcode_problem, clean_barcode
from bioscan_hf.core.console import progress_bar
from bioscan_hf.core.errors import InputError, UserError
from bioscan_hf.core.outputs import claim_output_folder, release_output_folder, write_atomically
from bioscan_hf.core.paths import existing_path, id_problem, text_problem, user_path
from bioscan_hf.data.partition import assign_splits
from bioscan_hf.data.release import write_metadata_zip
from bioscan_hf.data.schema import RANKS, expected_chunk

BOLD_RANK_COLUMNS = {rank: f"{rank}_name" for rank in RANKS}
REQUIRED_COLUMNS = ("processid", "nucleotides", "markercode", *BOLD_RANK_COLUMNS.values())
#: The BCDM names (BOLD's data portal downloads and data packages) of the combined export's columns.
BCDM_COLUMNS = {
    "nuc": "nucleotides",
    "marker_code": "markercode",
    "country/ocean": "country",
    "province/state": "province",
    **{rank: column for rank, column in BOLD_RANK_COLUMNS.items()},
}
#: Share of a barcode's labelled records that must agree for their majority value to be accepted.
CONFLICT_MAJORITY = 0.9


class BoldError(UserError, ValueError):
    """A BOLD export that cannot be read (not gzip, truncated, not a combined TSV)."""


@dataclass
class ImportReport:
    """What an import did: rows read, written, and every row it could not use with the reason."""

    rows_read: int = 0
    rows_written: int = 0
    unusable: list[tuple[str, str]] = field(default_factory=list)
    #: Rows kept but changed: (processid, what changed and why).
    changed: list[tuple[str, str]] = field(default_factory=list)
    #: Records left out on purpose (`exclude`): (processid, why).
    excluded: list[tuple[str, str]] = field(default_factory=list)
    annotations_changed: int = 0
    barcodes_cleaned: int = 0
    species_marked_undescribed: int = 0
    records_unlabelled: int = 0
    splits: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines for people: counts, and the first unusable rows with reasons."""
        reasons = Counter(reason.split(":")[0] for _, reason in self.unusable)
        lines = [
            f"read {self.rows_read} rows, wrote {self.rows_written} records",
            f"unusable rows: {len(self.unusable)}" + (f" ({dict(reasons)})" if reasons else ""),
            f"barcodes cleaned (gaps removed / ambiguity codes to N): {self.barcodes_cleaned}",
            f"species marked undescribed: {self.species_marked_undescribed}; "
            f"records made unlabelled (pretrain): {self.records_unlabelled}",
            f"records changed (annotation conflicts, text read as Latin-1): {len(self.changed)}; "
            f"annotations changed by the conflict rule: {self.annotations_changed}",
            "records per split: " + ", ".join(f"{k} {v}" for k, v in self.splits.items()),
        ]
        if self.excluded:
            lines.append(f"records excluded on purpose (listed in the report file): {len(self.excluded)}")
        lines += [f"  unusable {pid}: {why}" for pid, why in self.unusable[:10]]
        if len(self.unusable) > 10:
            lines.append(f"  … and {len(self.unusable) - 10} more (see the report file)")
        lines += [f"  changed {pid}: {why}" for pid, why in self.changed[:5]]
        if len(self.changed) > 5:
            lines.append(f"  … and {len(self.changed) - 5} more changes (see the report file)")
        return "\n".join(lines)

    def to_tsv(self) -> str:
        """The report file: every unusable row (skipped) and every changed row, one per line."""
        rows = [
            *((pid, "skipped", why) for pid, why in self.unusable),
            *((pid, "changed", why) for pid, why in self.changed),
            *((pid, "excluded", why) for pid, why in self.excluded),
        ]
        return "processid\taction\treason\n" + "".join(f"{p}\t{a}\t{w}\n" for p, a, w in rows)


def _lines(path: Path) -> Iterator[bytes]:
    """Raw lines of a plain or gzip file; a damaged or truncated gzip stream is a `BoldError`."""
    line_no = 0
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
            for chunk in handle:
                for line in chunk.splitlines(keepends=True):  # \n, \r\n and a lone \r all end a line
                    line_no += 1
                    yield line
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise BoldError(
            f"{path}: the gzip stream is damaged or truncated after line {line_no} ({type(err).__name__}: {err}); "
            "download the export again (nothing was written)"
        ) from err


def _decode(raw: bytes) -> tuple[str, bool]:
    """A line as text: UTF-8, or Latin-1 where it is not (returned flag True; reported by the caller)."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("latin-1"), True


def unusable_text(row: dict[str, str]) -> str | None:
    """Why a row's text cannot be used: a processid that could not name a file, or a control character in
    any field (it would become part of a label); None when it can."""
    problem = id_problem(row["processid"])
    if problem:
        return f"processid {row['processid']!r} {problem}"
    for column, value in row.items():
        problem = text_problem(value)
        if problem:
            return f"column {column!r} {problem}"
    return None


def bold_header(values: list[str]) -> list[str]:
    """A BOLD TSV header in the combined export's names: a BCDM header (`nuc`, `marker_code`, `species`)
    is renamed; a combined one is returned as it is."""
    header = [v.strip().lstrip("\ufeff") for v in values]
    if "nuc" in header and "nucleotides" not in header:
        header = [BCDM_COLUMNS.get(column, column) for column in header]
    return header


def iter_bold_rows(paths: Iterable[str | os.PathLike], report: ImportReport) -> Iterator[dict[str, str]]:
    """Rows of BOLD TSV files (gzip or plain) as dicts of stripped strings; bad lines go to `report`."""
    for path in map(user_path, paths):
        header = None
        for line_no, raw in enumerate(_lines(path), start=1):
            text, latin1 = _decode(raw)
            values = text.rstrip("\r\n").split("\t")
            if header is None:
                header = bold_header(values)
                missing = [c for c in REQUIRED_COLUMNS if c not in header]
                if missing:
                    raise BoldError(
                        f"{path}: not a BOLD TSV export; missing column(s) {', '.join(missing)} (export the "
                        "records as TSV from BOLD's portal, or the API's 'combined' TSV)"
                    )
                continue
            report.rows_read += 1
            where = f"{path.name} line {line_no}"
            if len(values) != len(header):
                pid = values[0] if values else ""
                report.unusable.append(
                    (pid or where, f"malformed line: {len(values)} fields, expected {len(header)} ({where})")
                )
                continue
            row = {k: v.strip() for k, v in zip(header, values)}
            if "coord" in row and "lat" not in row:  # BCDM: "[lat, lon]"
                row["lat"], _, row["lon"] = row["coord"].strip("[]() ").partition(",")
            problem = unusable_text(row)
            if problem:
                report.unusable.append((row["processid"] or where, f"{problem} ({where})"))
                continue
            row["_where"] = where
            if latin1:
                report.changed.append((row["processid"] or where, f"not UTF-8 text, read as Latin-1 ({where})"))
            yield row
        if header is None:
            raise BoldError(f"{path}: empty file; expected a BOLD TSV export")


def import_bold(
    paths: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    undescribed_fraction: float = 0.2,
    unlabelled_fraction: float = 0.0,
    seed: int = 0,
    resolve_conflicts: bool = True,
    exclude: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> ImportReport:
    """Convert BOLD exports into a release folder `out` (metadata zip) with BIOSCAN-5M partitions.

    `undescribed_fraction` of species get placeholder names (`Genus sp. BOLD:…`) so that unseen and
    heldout splits exist; `unlabelled_fraction` of records lose their species label (→ pretrain);
    `resolve_conflicts` applies the conflicted-annotation rule (module docstring). `exclude`: processid →
    why, records left out of the release after the partition is drawn over all records, so every other
    record lands in the split it would have without exclusion (each excluded one listed in the report). Nothing
    is written when an input cannot be read or an id to exclude is not among the usable records.
    """
    for name, value in (("undescribed_fraction", undescribed_fraction), ("unlabelled_fraction", unlabelled_fraction)):
        if not 0.0 <= value <= 1.0:
            raise InputError(f"{name} must be within 0..1, got {value}")
    paths = [existing_path(path, "BOLD export") for path in paths]
    out = user_path(out)
    created = claim_output_folder(out, "import-bold", overwrite)  # before any work: a folder of others' files
    try:
        return _import(paths, out, undescribed_fraction, unlabelled_fraction, seed, resolve_conflicts, exclude)
    finally:
        release_output_folder(out, created)


def _import(
    paths: Iterable[str | os.PathLike],
    out: Path,
    undescribed_fraction: float,
    unlabelled_fraction: float,
    seed: int,
    resolve_conflicts: bool,
    exclude: Mapping[str, str] | None,
) -> ImportReport:
    report = ImportReport()
    records: list[dict] = []
    seen_ids: set[str] = set()
    for row in progress_bar(iter_bold_rows(paths, report), desc="reading BOLD rows", unit="row"):
        pid, where = row["processid"], row["_where"]
        problem = None if not row["nucleotides"] else barcode_problem(row["nucleotides"])
        if row["markercode"] != "COI-5P":
            report.unusable.append((pid or where, f"marker: {row['markercode'] or 'none'}, not COI-5P ({where})"))
        elif not row["nucleotides"]:
            report.unusable.append((pid or where, f"no barcode: empty nucleotides ({where})"))
        elif not pid:
            report.unusable.append((where, f"no processid (sampleid {row.get('sampleid') or '?'}) ({where})"))
        elif problem:
            report.unusable.append((pid, f"unusable barcode: {problem} ({where})"))
        elif pid in seen_ids:
            report.unusable.append((pid, f"duplicate processid: an earlier row with this id was kept ({where})"))
        else:
            seen_ids.add(pid)
            records.append(_to_record(row, report))
    if resolve_conflicts:
        resolve_annotation_conflicts(records, report)
    rng = np.random.default_rng(seed)
    _mark_undescribed(records, undescribed_fraction, rng, report)
    for record in records:
        if record["species"] and rng.random() < unlabelled_fraction:
            record["species"] = None
            record["taxon"] = record["genus"] or record["family"] or record["order"]
            report.records_unlabelled += 1
    partition = assign_splits(
        [r["species"] for r in records], [r["genus"] for r in records], [r["dna_barcode"] for r in records], seed
    )
    splits = partition.splits
    for record, split in zip(records, splits):
        record["split"] = split
        record["chunk"] = expected_chunk(record["processid"], split)
    exclude = exclude or {}
    unknown = sorted(set(exclude) - {r["processid"] for r in records})
    if unknown:
        raise BoldError(
            f"{len(unknown)} record(s) to exclude are not usable records of these exports (first: "
            f"{', '.join(unknown[:5])}); the list was written for another library: audit these exports instead"
        )
    report.excluded = [(r["processid"], exclude[r["processid"]]) for r in records if r["processid"] in exclude]
    records = [r for r in records if r["processid"] not in exclude]
    report.splits = dict(Counter(r["split"] for r in records))
    write_atomically(out / "import_report.tsv", lambda path: path.write_text(report.to_tsv()))
    if not records:
        raise BoldError(
            f"{', '.join(map(str, paths))}: no usable record to import ({len(report.unusable)} row(s) skipped, each "
            f"listed with its reason in {out / 'import_report.tsv'}); nothing else was written"
        )
    write_metadata_zip(out, records, origin="bioscan-hf import-bold")
    report.rows_written = len(records)
    return report


def _to_record(row: dict[str, str], report: ImportReport) -> dict:
    barcode = clean_barcode(row["nucleotides"])
    if barcode != row["nucleotides"]:
        report.barcodes_cleaned += 1
    ranks = {rank: row[column] or None for rank, column in BOLD_RANK_COLUMNS.items()}
    if ranks["genus"] and not ranks["subfamily"] and ranks["family"]:
        ranks["subfamily"] = f"unassigned {ranks['family']}"
    taxon = next((ranks[r] for r in reversed(RANKS) if ranks[r]), None)

    def number(name: str) -> str | None:
        try:
            return str(float(row.get(name, "")))
        except ValueError:
            return None

    return {
        "processid": row["processid"],
        "sampleid": row.get("sampleid") or None,
        "taxon": taxon,
        **ranks,
        "dna_bin": row.get("bin_uri") or None,
        "dna_barcode": barcode,
        "country": row.get("country") or None,
        "province_state": row.get("province") or None,
        "coord-lat": number("lat"),
        "coord-lon": number("lon"),
        "image_measurement_value": None,
        "area_fraction": None,
        "scale_factor": None,
        "inferred_ranks": 0,
        "split": None,
        "index_bioscan_1M_insect": None,
        "chunk": None,
    }


def resolve_annotation_conflicts(records: list[dict], report: ImportReport) -> None:
    """Apply the conflicted-annotation rule (module docstring) to records sharing a barcode, in place;
    every changed record is listed in `report.changed`."""
    by_barcode: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_barcode[barcode_key(record["dna_barcode"])].append(record)
    for group in by_barcode.values():
        if len(group) < 2:
            continue
        for depth, rank in enumerate(RANKS):
            votes = Counter(r[rank] for r in group if r[rank])
            if len(votes) < 2:
                continue
            value, count = votes.most_common(1)[0]
            if count >= CONFLICT_MAJORITY * sum(votes.values()):
                for record in group:
                    if record[rank] and record[rank] != value:
                        _change(
                            record,
                            report,
                            f"{rank} {record[rank]!r} → {value!r} ({count} of "
                            f"{sum(votes.values())} records of its barcode agree)",
                            {rank: value},
                        )
                continue
            cut = list(RANKS[depth:])
            why = f"cut at {rank}: {dict(votes)} on one barcode, no value with ≥ 90%"
            for record in group:
                if any(record[r] for r in cut):
                    _change(record, report, why, dict.fromkeys(cut))
            break


def _change(record: dict, report: ImportReport, why: str, values: dict) -> None:
    record.update(values)
    if record["subfamily"] and record["subfamily"].startswith("unassigned ") and not record["genus"]:
        record["subfamily"] = None  # a filler only stands for a described genus
    record["taxon"] = next((record[r] for r in reversed(RANKS) if record[r]), None)
    report.changed.append((record["processid"], f"annotation changed: {why}"))
    report.annotations_changed += 1


def _mark_undescribed(records: list[dict], fraction: float, rng: np.random.Generator, report: ImportReport) -> None:
    species = sorted({r["species"] for r in records if r["species"]})
    chosen = set(rng.choice(species, size=round(fraction * len(species)), replace=False)) if species else set()
    report.species_marked_undescribed = len(chosen)
    placeholder: dict[str, str] = {}
    for record in records:
        name = record["species"]
        if name in chosen:
            if name not in placeholder:
                tag = record["dna_bin"] or f"{len(placeholder):04d}"
                placeholder[name] = f"{record['genus'] or name.split()[0]} sp. {tag}"
            record["species"] = record["taxon"] = placeholder[name]
