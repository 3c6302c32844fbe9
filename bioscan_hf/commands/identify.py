"""Identification commands: `identify` (a plate against a reference library) and `calibrate` (how often
its calls are right, learned from the reference)."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.commands.common import EMBEDDINGS_HELP, MODEL_SPEC_HELP, Command, comma_list
from bioscan_hf.core.options import option
from bioscan_hf.data.sources import CALL_RANKS
from bioscan_hf.search import identify
from bioscan_hf.search.calibrate import DEFAULT_QUERIES, calibrate_reference
from bioscan_hf.search.calls import DEFAULT_MIN_CONFIDENCE, DEFAULT_THRESHOLDS
from bioscan_hf.search.engine import DEFAULT_CANDIDATES


def thresholds(text: str | None) -> dict[str, float] | None:
    """`species=0.97,genus=0.94` → the fixed rule with those thresholds and the defaults for other ranks
    (percentages accepted)."""
    if text is None:
        return None
    parsed = dict(DEFAULT_THRESHOLDS)
    for item in comma_list(text):
        rank, _, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if rank.strip() not in CALL_RANKS or number is None or not 0 < number <= 100:
            raise ValueError(
                f"--thresholds {item!r}: expected RANK=IDENTITY, RANK one of {', '.join(CALL_RANKS)} and IDENTITY a "
                "fraction or a percentage (e.g. species=0.97,genus=94)"
            )
        parsed[rank.strip()] = number / 100 if number > 1 else number
    return parsed


_DEFAULTS = ", ".join(f"{rank} {value:.0%}%" for rank, value in DEFAULT_THRESHOLDS.items())  # %% for argparse


@dataclass(kw_only=True)
class IdentifyOptions:
    queries: str = option("FASTA, TSV/CSV, BOLD TSV, prepared dataset folder, or folder of photos", positional=True)
    reference: str = option("prepared dataset, index folder, BOLD TSV or taxonomy FASTA")
    out: str = option("results file: .tsv, .csv, .json or .parquet")
    split: str = option("query split when QUERIES is a prepared dataset (default test)", "test")
    reference_splits: str = option(
        "reference splits when REFERENCE is a prepared dataset (default train,key_unseen; also all, seen, unseen, a+b)",
        "train,key_unseen",
    )
    top_k: int = option("also write the best K hits per query to OUT's .hits file", 0)
    model: str | None = option(
        f"shortlist by an encoder's neighbours instead of seeds; photos need CLIBD. {MODEL_SPEC_HELP}", None
    )
    embeddings: str | None = option(f"with --model: {EMBEDDINGS_HELP} (references and queries, by id)", None)
    photo_keys: bool = option(
        "photo queries: match the reference photos of REF (an index folder of a CLIBD or image model, embedded "
        "with its own model) instead of reference barcodes",
        False,
    )
    within: str | None = option("only references under this taxon, at any rank (e.g. Diptera)", None)
    country: str | None = option("only references collected in this country", None)
    min_confidence: float = option(
        f"call a rank when the calibrated probability that its candidate is right reaches this (default "
        f"{DEFAULT_MIN_CONFIDENCE}: genus calls on unseen species ≥ 97%% right, species calls on seen species "
        "≥ 95%% made, BENCHMARKS.md)",
        DEFAULT_MIN_CONFIDENCE,
    )
    calibration: str | None = option(
        "a calibration file of `bioscan-hf calibrate` (default: fitted on REFERENCE itself on first use and kept "
        "in the cache folder)",
        None,
    )
    thresholds: str | None = option(
        f"the fixed BOLD-style rule instead: call a rank when the best identity reaches its threshold, e.g. "
        f"species=0.97,genus=0.94 (unnamed ranks: {_DEFAULTS}); the confidence shown stays calibrated",
        None,
    )
    outfmt: str = option(
        "table: hits in OUT's kind of table (with --top-k); blast6: hits as BLAST's -outfmt 6 in OUT's "
        ".hits.blast6 (qseqid sseqid pident length mismatch gapopen qstart qend sstart send evalue bitscore; "
        "10 per query unless --top-k)",
        "table",
    )
    candidates: int = option(
        f"distinct reference barcodes aligned per query (default {DEFAULT_CANDIDATES})", DEFAULT_CANDIDATES
    )
    chunk_size: int = option("queries per resumable chunk (default 1000)", 1000)
    num_proc: int = option("processes aligning queries (default 1)", 1)
    skip_bad: bool = option("leave unusable records out and list them in OUT's .skipped.tsv", False)
    overwrite: bool = option("replace OUT even if identify did not write it", False)


def run_identify(o: IdentifyOptions) -> None:
    result = identify(
        o.queries,
        o.reference,
        o.out,
        reference_splits=tuple(comma_list(o.reference_splits)),
        query_split=o.split,
        model=o.model,
        embeddings=o.embeddings,
        photo_keys=o.photo_keys,
        top_k=o.top_k,
        within=o.within,
        country=o.country,
        thresholds=thresholds(o.thresholds),
        min_confidence=o.min_confidence,
        calibration=o.calibration,
        outfmt=o.outfmt,
        candidates=o.candidates,
        chunk_size=o.chunk_size,
        num_proc=o.num_proc,
        skip_bad=o.skip_bad,
        overwrite=o.overwrite,
    )
    if result.main_process:
        print(result.report())


@dataclass(kw_only=True)
class CalibrateOptions:
    reference: str = option("prepared dataset, index folder, BOLD TSV or taxonomy FASTA", positional=True)
    out: str = option("calibration file to write (.skops), for identify --calibration")
    reference_splits: str = option(
        "reference splits when REFERENCE is a prepared dataset (default train,key_unseen; also all, seen, unseen, a+b)",
        "train,key_unseen",
    )
    queries: int = option(f"held-out queries (default {DEFAULT_QUERIES:,})", DEFAULT_QUERIES)
    candidates: int = option("distinct reference barcodes aligned per query, as identify", DEFAULT_CANDIDATES)
    seed: int = option("which species and records are held out", 0)
    skip_bad: bool = option("leave unusable reference records out (listed in OUT's .skipped.tsv)", False)
    overwrite: bool = option("replace OUT even if calibrate did not write it", False)


def run_calibrate(o: CalibrateOptions) -> None:
    calibration = calibrate_reference(
        o.reference,
        o.out,
        reference_splits=tuple(comma_list(o.reference_splits)),
        queries=o.queries,
        candidates=o.candidates,
        seed=o.seed,
        skip_bad=o.skip_bad,
        overwrite=o.overwrite,
    )
    print(calibration.report())
    print(f"use it with: bioscan-hf identify QUERIES --reference {o.reference} --calibration {o.out} --out OUT")


COMMANDS: dict[str, Command] = {
    "identify": Command(
        IdentifyOptions,
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
        CalibrateOptions,
        run_calibrate,
        "Learn from a reference library how often identify's calls are right: hold whole species and single "
        "records out of it, identify them against the rest (in 8 folds), and fit per rank the probability "
        "that a candidate is right from the best identity, coverage, the voting hits' agreement and support "
        "and the gap to the next taxon. identify does this itself on first use of a reference (cached); "
        "this command writes the file to share or reuse (identify --calibration).",
        "example: bioscan-hf calibrate bioscan-5m --out bioscan-5m.calibration.skops",
    ),
}
