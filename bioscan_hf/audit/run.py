"""`audit`: the suspects of a reference library, its BAGS grades and a summary, written beside each other.

    OUT                    suspects, one row per record, most certain first (TSV, CSV or Parquet by suffix)
    <stem>.bags.<ext>      BAGS grade per species label
    <stem>.summary.json    counts per category and order, grade distribution, notes
    <stem>.png             suspects per order by category, species per order by grade
    <stem>.skipped.tsv     unusable records left out (with skip_bad)

An existing OUT (or any of those files) is replaced only when audit wrote it, or with `overwrite`, and
each only by a complete file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from bioscan_hf.audit.bins import bags_grades, bin_findings
from bioscan_hf.audit.findings import SUSPECT_COLUMNS, Finding, combine
from bioscan_hf.audit.neighbours import label_findings, left_out
from bioscan_hf.audit.qc import barcode_findings
from bioscan_hf.audit.report import plot_audit, summarize, summary_table
from bioscan_hf.audit.settings import AuditSettings
from bioscan_hf.core.console import status
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.outputs import OutputFile, check_all, companion, output_path
from bioscan_hf.core.paths import user_path
from bioscan_hf.core.processes import process_state
from bioscan_hf.data.prepared import data_origin, origin_note
from bioscan_hf.data.schema import LINEAGE_RANKS
from bioscan_hf.data.sources import Problems, is_prepared_dataset, skipped_path, write_skipped
from bioscan_hf.search.calibration import Calibration
from bioscan_hf.search.graph import NeighbourGraph, graph_built, neighbour_graph, search_barcodes
from bioscan_hf.search.held_out import cached_calibration
from bioscan_hf.search.references import REFERENCE_COLUMNS, Reference, read_references, within_mask

OUTPUT_SUFFIXES = (".tsv", ".csv", ".parquet")
#: Nearest references whose lengths a barcode is compared with (a fragment).
LENGTH_NEIGHBOURS = 10


@dataclass
class AuditRun:
    """What an audit found and where it wrote it."""

    suspects: pd.DataFrame
    grades: pd.DataFrame
    summary: dict
    out: Path
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: False in the processes of an `accelerate launch` but the main one (they shared the graph's search; the
    #: main process audited and wrote every file)
    main_process: bool = True

    def report(self) -> str:
        """Lines for people: counts, files, the per-order table and the notes."""
        s = self.summary
        categories = ", ".join(f"{c} {n:,}" for c, n in s["by_category"].items())
        grades = ", ".join(f"{g} {n:,}" for g, n in s["grades"].items() if n) or "none"
        lines = [
            f"audited {s['audited']:,} of {s['records']:,} records ({s['distinct_barcodes']:,} distinct barcodes) "
            f"→ {self.out}",
            f"{s['suspects']:,} suspects with score ≥ {s['min_score']:g}: {categories}",
            f"BAGS grades of {len(self.grades):,} species: {grades} → {companion(self.out, 'bags')}",
        ]
        if len(self.skipped):
            lines.append(f"skipped {len(self.skipped)} unusable record(s), listed in {skipped_path(self.out)}")
        lines += [f"note: {note}" for note in s["notes"]]
        return "\n".join([*lines, "", summary_table(s)])


def output_files(out: Path, settings: AuditSettings) -> dict[str, OutputFile]:
    """Every file an audit writes, by role, under the package's output rule (the audit's own: those beside
    a summary it wrote)."""
    main = OutputFile(out, "audit", settings.overwrite, ours=companion(out, "summary", ".json").is_file())
    return {
        "suspects": main,
        "grades": main.companion("bags"),
        "summary": main.companion("summary", ".json"),
        "plot": replace(main, path=out.with_suffix(".png")),
        "skipped": main.companion("skipped", ".tsv"),
    }


def audit(
    source: str | os.PathLike,
    out: str | os.PathLike,
    settings: AuditSettings | None = None,
    *,
    progress: bool = True,
    **overrides,
) -> AuditRun:
    """Audit the records of `source` (a prepared dataset: all splits, or `settings.split`; a BOLD TSV; a
    FASTA with SINTAX/BOLD headers) against each other and write the suspects to `out` (module docstring).
    `settings`: an `AuditSettings` (its fields may also be given as keywords)."""
    settings = AuditSettings.given(settings, **overrides)
    split, within = settings.split, settings.within
    out = output_path(out, OUTPUT_SUFFIXES)
    files = output_files(out, settings)
    check_all(files.values())
    source_path = user_path(source)
    dataset = is_prepared_dataset(source_path)
    if split and not dataset:
        raise InputError(f"--split {split}: {source} is a file, not a prepared dataset; leave --split out")
    problems = Problems(skip=settings.skip_bad)
    table = read_references(source, (split,) if split else None, problems, where=True)
    rows = np.flatnonzero(within_mask(table, within).to_numpy()) if within else np.arange(len(table))
    if not len(rows):
        raise InputError(f"no record of {source} is within {within!r}; check the spelling")
    notes = [origin_note(data_origin(source_path))] if dataset else []
    reference = Reference(table)
    if process_state().num_processes > 1 and _every_barcode(reference, rows):
        # under accelerate launch every process searches a share of the graph, and the main one does the rest
        graph_built(reference, settings.candidates + 1, settings.num_proc, progress=progress)
        if not process_state().is_main_process:
            return AuditRun(pd.DataFrame(), pd.DataFrame(), {}, out, main_process=False)
    findings: list[Finding] = []
    hits_of_key = _hits(reference, rows, settings.candidates, settings.num_proc, progress)
    compared = [rank for rank in LINEAGE_RANKS if table[rank].nunique() >= 2]
    if compared:
        model = (
            Calibration.load(user_path(settings.calibration))
            if settings.calibration
            else cached_calibration(table[list(REFERENCE_COLUMNS)], settings.calibration_settings(), progress=progress)
        )
        findings += label_findings(reference, rows, hits_of_key, model, progress=progress)
    else:
        named = table["species"].dropna().unique()
        notes.append(
            f"one species ({named[0] if len(named) else 'no label'}): nothing to compare labels with; "
            "barcodes were checked"
        )
    if table["dna_bin"].notna().any():
        findings += bin_findings(table, rows)
    else:
        notes.append("no record carries a BIN: no BIN discordance, and no species can be graded (BAGS needs BINs)")
    findings += _barcode_findings(reference, rows, hits_of_key)
    suspects = _suspects_table(table, combine(findings), settings.min_score)
    grades = bags_grades(table)
    grades = grades[grades["species"].isin(set(table["species"].iloc[rows].dropna()))].reset_index(drop=True)
    species_order = table.dropna(subset=["species"]).groupby("species")["order"].agg(_most_common).to_dict()
    summary = summarize(
        suspects,
        grades,
        species_order,
        source=str(source),
        records=len(table),
        audited=len(rows),
        distinct_barcodes=len(set(reference.key_of_record[rows].tolist())),
        within=within,
        min_score=settings.min_score,
        notes=notes,
    )
    return _write(files, suspects, grades, summary, problems)


def _every_barcode(reference: Reference, rows: np.ndarray) -> bool:
    """Whether the audited records `rows` carry every distinct barcode of the library (its graph is then read)."""
    return len(np.unique(reference.key_of_record[rows])) == len(reference.barcodes)


def _hits(reference: Reference, rows: np.ndarray, candidates: int, num_proc: int, progress: bool) -> NeighbourGraph:
    """Each audited distinct barcode's hits in the library (its own barcode among them): the library's
    neighbour graph (`search.graph`: built once, cached) when every record is audited, else those of the
    audited barcodes alone, searched the same way."""
    if _every_barcode(reference, rows):
        return neighbour_graph(reference, candidates + 1, num_proc, progress=progress)  # + its own barcode
    if progress:
        status(f"indexing {len(reference.barcodes):,} distinct barcodes")
    keys = np.unique(reference.key_of_record[rows]).tolist()
    return search_barcodes(reference, keys, candidates + 1, num_proc, progress=progress)


def _barcode_findings(reference: Reference, rows: np.ndarray, hits_of_key: NeighbourGraph) -> list[Finding]:
    """The barcode findings of the records `rows`, each distinct barcode checked once."""
    by_key: dict[int, list[Finding]] = {}
    findings = []
    for row in rows:
        key = int(reference.key_of_record[row])
        if key not in by_key:
            nearest = left_out(reference, key, hits_of_key[key])[:LENGTH_NEIGHBOURS]
            lengths = [len(reference.barcodes[h.key].strip("N")) for h in nearest]
            by_key[key] = barcode_findings(int(row), reference.barcodes[key], lengths)
        findings += [replace(f, row=int(row)) for f in by_key[key]]
    return findings


def _most_common(values: pd.Series) -> str | None:
    counts = values.dropna().value_counts()
    return str(counts.index[0]) if len(counts) else None


def _suspects_table(table: pd.DataFrame, findings: dict[int, Finding], min_score: float) -> pd.DataFrame:
    """One row per suspect record, most certain first (ties: by processid)."""
    where = [c for c in ("line", "split") if c in table]
    rows = [
        {
            "processid": table["processid"].iat[row],
            "category": f.category,
            "score": f.score,
            "rank": f.rank,
            "label": f.label,
            "suggested": f.suggested,
            "evidence": f.evidence,
            "order": table["order"].iat[row],
            **{c: table[c].iat[row] for c in where},
        }
        for row, f in findings.items()
        if f.score >= min_score
    ]
    frame = pd.DataFrame(rows, columns=[*SUSPECT_COLUMNS, *where])
    if "line" in frame:
        frame["line"] = frame["line"].astype("Int64")
    return frame.sort_values(["score", "processid"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _write(
    files: dict[str, OutputFile], suspects: pd.DataFrame, grades: pd.DataFrame, summary: dict, problems: Problems
) -> AuditRun:
    """Every output, each replaced only by its complete new version (the summary last: it marks the set)."""
    files["suspects"].write_table(suspects)
    files["grades"].write_table(grades, files["suspects"].path.suffix)
    files["plot"].write(lambda path: plot_audit(summary, path))
    skipped = write_skipped(files["suspects"].path, problems)
    summary["skipped"] = len(skipped)
    files["summary"].write_json(summary)
    return AuditRun(suspects, grades, summary, files["suspects"].path, skipped)
