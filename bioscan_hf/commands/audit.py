"""Curation command: `audit` (the suspects of a reference library and its species' BAGS grades)."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.audit import DEFAULT_MIN_SCORE, audit
from bioscan_hf.commands.common import Command
from bioscan_hf.core.options import option
from bioscan_hf.search.engine import DEFAULT_CANDIDATES


@dataclass(kw_only=True)
class AuditOptions:
    source: str = option(
        "the library: a prepared dataset folder, a BOLD TSV, or a FASTA with SINTAX/BOLD taxonomy headers",
        positional=True,
    )
    out: str = option("suspects file to write: .tsv, .csv or .parquet (grades, summary and plot beside it)")
    split: str | None = option("audit one split of a prepared dataset (default: all splits)", None)
    within: str | None = option(
        "audit only the records under this taxon, at any rank (e.g. Diptera); they are still compared with the "
        "whole library",
        None,
    )
    min_score: float = option(
        f"write suspects with at least this score (default {DEFAULT_MIN_SCORE}; 0 writes every finding)",
        DEFAULT_MIN_SCORE,
    )
    calibration: str | None = option(
        "a calibration file of `bioscan-hf calibrate` (default: fitted on SOURCE itself on first use, cached, "
        "as identify does)",
        None,
    )
    candidates: int = option(
        f"nearest distinct barcodes aligned per record (default {DEFAULT_CANDIDATES})", DEFAULT_CANDIDATES
    )
    num_proc: int = option("processes comparing barcodes (default 1)", 1)
    skip_bad: bool = option("leave unusable records out and list them in OUT's .skipped.tsv", False)
    overwrite: bool = option("replace OUT and the files beside it even if audit did not write them", False)


def run_audit(o: AuditOptions) -> None:
    result = audit(
        o.source,
        o.out,
        split=o.split,
        within=o.within,
        min_score=o.min_score,
        calibration=o.calibration,
        candidates=o.candidates,
        num_proc=o.num_proc,
        skip_bad=o.skip_bad,
        overwrite=o.overwrite,
    )
    print(result.report())
    print(f"publish without them: bioscan-hf prepare --release RELEASE --out OUT --exclude {o.out}")


COMMANDS: dict[str, Command] = {
    "audit": Command(
        AuditOptions,
        run_audit,
        "Find the records of a reference library that are probably mislabelled, contaminated or damaged, and "
        "grade its species. Each record is compared with the others (itself left out) by identify's engine: "
        "where its nearest references name another taxon with a calibrated probability (learned from the "
        "library, as identify's calls), the record is a label_conflict at that rank, or contamination when it "
        "is another order and far from every record of its own. barcode_qc: stop codons in every reading "
        "frame (a frameshift or pseudogene; invertebrate mitochondrial code, NCBI table 5), more than 1% "
        "ambiguous bases, or a fragment under half its neighbours' length. bin_discordance: a record whose "
        "species is not its BIN's majority. OUT lists one row per suspect, most certain first: processid, "
        "category, score (0–1: how sure the audit is that something is wrong), rank, label, suggested, "
        "evidence (the nearest references with identities and labels, or the QC finding), order, and the "
        "record's line in the file (or its split). Beside it: OUT's .bags.tsv (BAGS grade A–E per species: "
        "E shares a BIN with another species, C is split across BINs, A >10 records, B 3–10, D <3; - no BIN), "
        ".summary.json and .png (suspects per order by category, species per order by grade). Remove the "
        "suspects from a release with prepare/import-bold --exclude OUT.",
        "example: bioscan-hf audit bold_export.tsv --out suspects.tsv --num-proc 2",
    ),
}
