"""Identification commands: `identify` (a plate against a reference library) and `calibrate` (how often
its calls are right, learned from the reference). Each is its inputs, the run's settings object
(`bioscan_hf.search.settings`) and the function that runs them."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.commands.common import Command, print_report
from bioscan_hf.core.options import option
from bioscan_hf.search.settings import CalibrateSettings, IdentifySettings

REFERENCE_HELP = "prepared dataset, index folder, BOLD TSV or taxonomy FASTA"


@dataclass(frozen=True, kw_only=True)
class IdentifyInputs:
    """What identify reads and where it writes; how is `IdentifySettings`."""

    queries: str = option("FASTA, TSV/CSV, BOLD TSV, prepared dataset folder, or folder of photos", positional=True)
    reference: str = option(REFERENCE_HELP)
    out: str = option("results file: .tsv, .csv, .json or .parquet")
    clusters: str | None = option(
        "a cluster registry (OUT's .registry.parquet of bioscan-hf cluster): each query's cluster, the one its "
        "best hit belongs to within 2.2 percent or new:N shared by the queries of one putative new species, in "
        "OUT's .clusters.tsv",
        None,
    )


def run_identify(inputs: IdentifyInputs, settings: IdentifySettings) -> None:
    from bioscan_hf.core.outputs import output_path
    from bioscan_hf.search.run import OUTPUT_SUFFIXES, identify, output_files

    placed = None
    if inputs.clusters:  # checked before any work, under the rule of identify's own files
        from bioscan_hf.clusters.registry import read_registry

        registry = read_registry(inputs.clusters)
        results = output_files(output_path(inputs.out, OUTPUT_SUFFIXES), settings)["results"]
        placed = results.companion("clusters", ".tsv").check()
    run = identify(inputs.queries, inputs.reference, inputs.out, settings)
    print_report(run)
    if placed is not None and run.main_process:
        from bioscan_hf.clusters.registry import place_queries
        from bioscan_hf.data.sources import Problems, iter_queries

        queries = iter_queries(inputs.queries, settings.query_split, Problems(skip=True))
        sequences = {q.id: q.sequence for q in queries if q.sequence}
        table = place_queries(run.results, sequences, registry)
        placed.write_table(table)
        new = table.loc[table["status"] == "new", "cluster"].nunique()
        print(
            f"clusters: {(table['status'] == 'registered').sum():,} queries joined registered clusters, {new:,} "
            f"putative new species (new:N) → {placed.path}"
        )


@dataclass(frozen=True, kw_only=True)
class CalibrateInputs:
    """The library a calibration is fitted on and the file it goes to; how is `CalibrateSettings`."""

    reference: str = option(REFERENCE_HELP, positional=True)
    out: str = option("calibration file to write (.skops), for identify --calibration")


def run_calibrate(inputs: CalibrateInputs, settings: CalibrateSettings) -> None:
    from bioscan_hf.search.held_out import calibrate_reference

    print_report(calibrate_reference(inputs.reference, inputs.out, settings))
    print(
        f"use it with: bioscan-hf identify QUERIES --reference {inputs.reference} --calibration {inputs.out} --out OUT"
    )


COMMANDS: dict[str, Command] = {
    "identify": Command(
        (IdentifyInputs, IdentifySettings),
        run_identify,
        "Identify each query against a reference library and write one row per query: the best hit (processid, "
        "pident, alignment length, qcovs, bitscore, its lineage as best_hit_<rank>), a call per rank (order, "
        "family, subfamily, genus, species, BIN) with its calibrated confidence and the reference records "
        "supporting it, the called lineage and all candidates in SINTAX form, and a note on the first rank not "
        "called. DNA: the references sharing the most codon-aware spaced seeds are aligned exactly (edlib); hits "
        "are ranked by alignment score (+1 per base of the shorter sequence, -3 per edit: BLAST-like, so a "
        "full-length 97% hit outranks a 100% hit over a fragment), with pident and qcovs beside. Calls: the "
        "hits within 0.5% identity of the best vote for a candidate per rank; it is called when the probability "
        "that it is right (learned from the reference itself by holding species and records out: bioscan-hf "
        "calibrate) reaches --min-confidence, or with --thresholds by BOLD-style identity thresholds. When the "
        "queries carry taxonomy, OUT's .summary.json and .reliability.png report per rank coverage, accuracy, "
        "over-classification and calibration error. QUERIES: FASTA, TSV/CSV (id + sequence columns), "
        "a BOLD TSV, a prepared dataset (with --split) or a folder of photos (--model CLIBD_FOLDER: matched to "
        "reference barcodes, called by the neighbours' vote; --photo-keys: to the photos of an index folder). "
        "REFERENCE: a prepared dataset (--reference-splits), an index folder, a BOLD TSV, or a FASTA with SINTAX "
        "(tax=o:…,g:…,s:…) or BOLD (id|taxon|marker|BIN) headers. Runs in chunks; a stopped run resumes from its "
        "finished chunks when run again with the same inputs and options (checked by content: a changed query "
        "file is refused, named). Under `accelerate launch` the processes share the chunks (on one machine or "
        "several: each runs the same command, see the README) and the main one writes the outputs.",
        "example: bioscan-hf identify plate.fasta --reference bioscan-5m --out plate.tsv --top-k 5",
    ),
    "calibrate": Command(
        (CalibrateInputs, CalibrateSettings),
        run_calibrate,
        "Learn from a reference library how often identify's calls are right: hold whole species and single "
        "records out of it, identify them against the rest (in 8 folds), and fit per rank the probability "
        "that a candidate is right from the best identity, coverage, the voting hits' agreement and support "
        "and the gap to the next taxon. identify does this itself on first use of a reference (cached); "
        "this command writes the file to share or reuse (identify --calibration).",
        "example: bioscan-hf calibrate bioscan-5m --out bioscan-5m.calibration.skops",
    ),
}
