"""Import BOLD "combined" TSV exports as a BIOSCAN-5M-style release (metadata only).

Every COI-5P row with a barcode is kept; rows that cannot be used (another marker, no sequence,
a malformed line, a repeated processid) are listed in the returned report, never silently dropped.
Barcode policy: upper-cased, alignment gaps `-` and whitespace removed, IUPAC ambiguity codes → N.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bioscan_hf.data.partition import assign_splits
from bioscan_hf.data.release import write_metadata_zip
from bioscan_hf.data.schema import RANKS, expected_chunk

BOLD_RANK_COLUMNS = {rank: f"{rank}_name" for rank in RANKS}
REQUIRED_COLUMNS = ("processid", "nucleotides", "markercode", *BOLD_RANK_COLUMNS.values())
_IUPAC = re.compile(r"[RYSWKMBDHVN]")
_GAPS = re.compile(r"[-\s.]")


@dataclass
class ImportReport:
    """What an import did: rows read, written, and every row it could not use with the reason."""

    rows_read: int = 0
    rows_written: int = 0
    unusable: list[tuple[str, str]] = field(default_factory=list)
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
            "records per split: " + ", ".join(f"{k} {v}" for k, v in self.splits.items()),
        ]
        lines += [f"  unusable {pid}: {why}" for pid, why in self.unusable[:10]]
        if len(self.unusable) > 10:
            lines.append(f"  … and {len(self.unusable) - 10} more (see the report file)")
        return "\n".join(lines)


def clean_barcode(text: str) -> str:
    """Apply the barcode policy: upper case, no gaps or whitespace, ambiguity codes as N."""
    return _IUPAC.sub("N", _GAPS.sub("", text.upper()))


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def iter_bold_rows(paths: Iterable[str | os.PathLike], report: ImportReport) -> Iterator[dict[str, str]]:
    """Rows of BOLD TSV files (gzip or plain) as dicts of stripped strings; bad lines go to `report`."""
    for path in map(Path, paths):
        with _open_text(path) as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{path}: empty file")
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise ValueError(f"{path}: not a BOLD combined TSV export; missing column(s) {', '.join(missing)}")
            for line_no, values in enumerate(reader, start=2):
                report.rows_read += 1
                if len(values) != len(header):
                    pid = values[0] if values else ""
                    report.unusable.append(
                        (
                            pid or f"{path.name}:{line_no}",
                            f"malformed line: {len(values)} fields, "
                            f"expected {len(header)} ({path.name} line {line_no})",
                        )
                    )
                    continue
                yield {k: v.strip() for k, v in zip(header, values)}


def import_bold(
    paths: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    undescribed_fraction: float = 0.2,
    unlabelled_fraction: float = 0.0,
    seed: int = 0,
) -> ImportReport:
    """Convert BOLD exports into a release folder `out` (metadata zip) with BIOSCAN-5M partitions.

    `undescribed_fraction` of species get placeholder names (`Genus sp. BOLD:…`) so that unseen and
    heldout splits exist; `unlabelled_fraction` of records lose their species label (→ pretrain).
    """
    for name, value in (("undescribed_fraction", undescribed_fraction), ("unlabelled_fraction", unlabelled_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be within 0..1, got {value}")
    report = ImportReport()
    records: list[dict] = []
    seen_ids: set[str] = set()
    for row in tqdm(iter_bold_rows(paths, report), desc="reading BOLD rows", unit="row"):
        pid = row["processid"]
        if row["markercode"] != "COI-5P":
            report.unusable.append((pid, f"marker: {row['markercode'] or 'none'}, not COI-5P"))
        elif not row["nucleotides"]:
            report.unusable.append((pid, "no barcode: empty nucleotides"))
        elif not pid:
            report.unusable.append((f"line of sampleid {row.get('sampleid', '?')}", "no processid"))
        elif pid in seen_ids:
            report.unusable.append((pid, "duplicate processid: an earlier row with this id was kept"))
        else:
            seen_ids.add(pid)
            records.append(_to_record(row, report))
    rng = np.random.default_rng(seed)
    _mark_undescribed(records, undescribed_fraction, rng, report)
    for record in records:
        if record["species"] and rng.random() < unlabelled_fraction:
            record["species"] = None
            record["taxon"] = record["genus"] or record["family"] or record["order"]
            report.records_unlabelled += 1
    splits = assign_splits(
        [r["species"] for r in records], [r["genus"] for r in records], [r["dna_barcode"] for r in records], seed
    )
    for record, split in zip(records, splits):
        record["split"] = split
        record["chunk"] = expected_chunk(record["processid"], split)
    report.splits = dict(Counter(splits))
    Path(out).mkdir(parents=True, exist_ok=True)
    write_metadata_zip(out, records)
    report.rows_written = len(records)
    (Path(out) / "import_report.tsv").write_text(
        "processid\treason\n" + "".join(f"{pid}\t{why}\n" for pid, why in report.unusable)
    )
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
