"""Curation command: `audit` (the suspects of a reference library and its species' BAGS grades)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from bioscan_hf.audit.settings import AuditSettings
from bioscan_hf.commands.common import Command, print_report
from bioscan_hf.core.options import option


@dataclass(frozen=True, kw_only=True)
class AuditInputs:
    source: str = option(
        "the library: a prepared dataset folder, a BOLD TSV, or a FASTA with SINTAX/BOLD taxonomy headers",
        positional=True,
    )
    out: str = option("suspects file to write: .tsv, .csv or .parquet (grades, summary and plot beside it)")


def run_audit(inputs: AuditInputs, settings: AuditSettings) -> None:
    from bioscan_hf.audit.run import audit

    print_report(audit(inputs.source, inputs.out, settings))
    source, out = shlex.quote(str(inputs.source)), shlex.quote(str(inputs.out))
    print(f"publish without them: bioscan-hf prepare --release RELEASE --out OUT --exclude {out}")
    print(f"identify without them: bioscan-hf identify QUERIES --reference {source} --exclude {out} --out RESULTS")


COMMANDS: dict[str, Command] = {
    "audit": Command(
        (AuditInputs, AuditSettings),
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
        "suspects from a release with prepare/import-bold --exclude OUT, or from an identification's reference "
        "with identify --exclude OUT.",
        "example: bioscan-hf audit bold_export.tsv --out suspects.tsv --num-proc 2",
    ),
}
