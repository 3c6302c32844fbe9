"""`identify`: a batch of queries against a reference, streamed in chunks, resumable, written as a table.

Each chunk of queries is identified and written to `<out>.parts/part-NNNNN.parquet` before the next is
read; a run that stops (killed, out of time) starts again where it stopped when run with the same
queries, reference and options, reusing the finished chunks. When all are done they are joined into
`out` (TSV, CSV, JSON or Parquet by its suffix) and the parts folder is removed. Beside `out`:
`<stem>.hits.<ext>` (with `top_k`), `<stem>.skipped.tsv` (records left out with `skip_bad`) and
`<stem>.summary.json` (per-rank coverage, and accuracy, over-classification, calibration error and
reliability where the queries' taxonomy is known, with `<stem>.reliability.png`). With
`outfmt="blast6"` the hits are written as BLAST's tabular format instead (`<stem>.hits.blast6`).

Calls are calibrated on the reference itself (`calibrate.cached_calibration`: fitted on first use of a
reference, kept in the cache folder), or by a calibration file given (`bioscan-hf calibrate`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path

import pandas as pd
import torch
from accelerate import PartialState

from bioscan_hf.core.errors import InputError
from bioscan_hf.core.output import progress_bar
from bioscan_hf.core.outputs import check_output_file, write_atomically
from bioscan_hf.core.paths import hash_file, user_path
from bioscan_hf.data.sources import Problems, iter_queries, skipped_path, source_digest
from bioscan_hf.embedding import Encoder, load_encoder
from bioscan_hf.embedding.store import read_embeddings
from bioscan_hf.search.calibrate import cached_calibration, reference_digest
from bioscan_hf.search.calibration import Calibration
from bioscan_hf.search.calls import DEFAULT_MIN_CONFIDENCE
from bioscan_hf.search.engine import DEFAULT_CANDIDATES, Identifier
from bioscan_hf.search.references import DEFAULT_REFERENCE_SPLITS, Reference, filter_references, read_references
from bioscan_hf.search.report import known_labels, plot_reliability, summarize, summary_table
from bioscan_hf.search.searcher import Searcher

OUTPUT_SUFFIXES = (".tsv", ".csv", ".json", ".parquet")
CHUNK_SIZE = 1_000
#: `table`: the hits file as OUT's kind of table; `blast6`: BLAST's tabular format (`-outfmt 6`).
OUTFMTS = ("table", "blast6")
#: BLAST's 12 standard tabular columns.
BLAST6_COLUMNS = (
    "query",
    "sseqid",
    "pident",
    "length",
    "mismatch",
    "gapopen",
    "qstart",
    "qend",
    "sstart",
    "send",
    "evalue",
    "bitscore",
)
#: Hits per query in BLAST format when --top-k is not given.
BLAST6_HITS = 10


@dataclass
class IdentifyRun:
    """What a run did: the results table, the per-rank summary and what was left out or reused."""

    results: pd.DataFrame
    summary: list[dict]
    out: Path
    references: int
    distinct_reference_barcodes: int
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)
    chunks_reused: int = 0
    #: False in the other processes of an `accelerate launch` (the main one writes and reports)
    main_process: bool = True

    def report(self) -> str:
        """Lines for people: counts, where the files are, and the per-rank summary."""
        lines = [
            f"identified {len(self.results):,} queries against {self.references:,} reference records "
            f"({self.distinct_reference_barcodes:,} distinct barcodes) → {self.out}",
        ]
        if self.chunks_reused:
            lines.append(f"resumed: {self.chunks_reused} finished chunk(s) reused")
        if len(self.skipped):
            lines.append(f"skipped {len(self.skipped)} unusable record(s), listed in {skipped_path(self.out)}")
        return "\n".join([*lines, "", summary_table(self.summary)])


def companion(out: Path, name: str, suffix: str | None = None) -> Path:
    """A file beside `out`: `<stem>.<name><suffix>`."""
    return out.with_name(f"{out.stem}.{name}{suffix or out.suffix}")


def write_table(frame: pd.DataFrame, path: Path, suffix: str | None = None) -> None:
    """Write by suffix (`path`'s, or `suffix`): .tsv, .csv, .json (records), .parquet."""
    suffix = suffix or path.suffix
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".json":
        path.write_text(frame.to_json(orient="records", indent=1, force_ascii=False))
    else:
        frame.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)


def _settings(queries: str, query_split: str, reference: str, options: dict, references: pd.DataFrame) -> dict:
    """What a run's results depend on: the queries', the references' and the calibration file's content
    (digests), and the options."""
    calibration = options.get("calibration")
    return {
        "queries": queries,
        "queries_content": source_digest(queries, query_split),
        "reference": reference,
        "reference_records": reference_digest(references),
        **options,
        **({"calibration_content": _file_digest(user_path(calibration))} if calibration else {}),
    }


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    hash_file(digest, path)
    return digest.hexdigest()[:16]


#: What each setting of a run is, for the message naming what changed.
_SETTING_NAMES = {
    "queries_content": "the queries' content",
    "reference_records": "the reference records",
    "calibration_content": "the calibration file's content",
}


def _changed(previous: dict | None, settings: dict) -> list[str]:
    if previous is None:
        return ["the settings of the stopped run are unreadable"]
    keys = [k for k in settings if previous.get(k) != settings[k]]
    return [_SETTING_NAMES.get(k, f"--{k.replace('_', '-')}") for k in keys]


def identify(
    queries: str | os.PathLike,
    reference: str | os.PathLike,
    out: str | os.PathLike,
    *,
    reference_splits: tuple[str, ...] = DEFAULT_REFERENCE_SPLITS,
    query_split: str = "test",
    model: str | None = None,
    embeddings: str | os.PathLike | None = None,
    photo_keys: bool = False,
    top_k: int = 0,
    within: str | None = None,
    country: str | None = None,
    thresholds: dict[str, float] | None = None,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    calibration: str | os.PathLike | None = None,
    outfmt: str = "table",
    candidates: int = DEFAULT_CANDIDATES,
    chunk_size: int = CHUNK_SIZE,
    num_proc: int = 1,
    skip_bad: bool = False,
    progress: bool = True,
    overwrite: bool = False,
) -> IdentifyRun:
    """Identify every query of `queries` against `reference` and write the results to `out` (an existing
    `out` is replaced only when identify wrote it, or with `overwrite`, and only by the complete table)."""
    out = user_path(out)
    if out.suffix not in OUTPUT_SUFFIXES:
        raise InputError(f"{out}: the output must end in {', '.join(OUTPUT_SUFFIXES)}")
    if outfmt not in OUTFMTS:
        raise InputError(f"--outfmt {outfmt!r}: expected one of {', '.join(OUTFMTS)}")
    if not 0 <= min_confidence <= 1:
        raise InputError(f"--min-confidence {min_confidence}: expected a probability between 0 and 1")
    written_before = companion(out, "summary", ".json").is_file()
    check_output_file(out, written_before, "identify", overwrite)
    problems = Problems(skip=skip_bad)
    if embeddings and not model:
        raise InputError("--embeddings needs --model: the model that wrote them, to embed anything they lack")
    # the model first: a missing or damaged folder stops the run before the reference is read
    encoder = load_encoder(model) if model and not photo_keys else None
    table = filter_references(read_references(reference, reference_splits, problems), within, country)
    options = {
        "query_split": query_split,
        "model": model,
        "embeddings": os.fspath(embeddings) if embeddings else None,
        "photo_keys": photo_keys,
        "top_k": top_k,
        "within": within,
        "country": country,
        "thresholds": thresholds,
        "min_confidence": min_confidence,
        "calibration": os.fspath(calibration) if calibration else None,
        "outfmt": outfmt,
        "candidates": candidates,
        "chunk_size": chunk_size,
        "skip_bad": skip_bad,
    }
    settings = _settings(str(queries), query_split, str(reference), options, table)
    parts = out.with_name(out.name + ".parts")
    if parts.is_dir() and any(parts.glob("part-?????.parquet")):  # no chunk finished: start afresh
        try:
            previous = json.loads((parts / "settings.json").read_text())
        except (OSError, ValueError):
            previous = None
        changed = _changed(previous, settings)
        if changed:
            raise InputError(
                f"{parts} holds chunks of a run with other queries, reference or options ({', '.join(changed)} "
                "changed); remove that folder to start again, or rerun with the same inputs and options to resume"
            )
    parts.mkdir(parents=True, exist_ok=True)
    (parts / "settings.json").write_text(json.dumps(settings, indent=1))
    try:
        return _run(queries, reference, out, parts, settings, table, problems, options, encoder, num_proc, progress)
    except BaseException:
        if not any(parts.glob("part-?????.parquet")):  # nothing to resume from: leave nothing behind
            shutil.rmtree(parts, ignore_errors=True)
        raise


def _run(
    queries: str | os.PathLike,
    reference: str | os.PathLike,
    out: Path,
    parts: Path,
    settings: dict,
    table: pd.DataFrame,
    problems: Problems,
    options: dict,
    encoder: Encoder | None,
    num_proc: int,
    progress: bool,
) -> IdentifyRun:
    """The chunked run of `identify` (resuming from the finished chunks in `parts`)."""
    model, embeddings, photo_keys = options["model"], options["embeddings"], options["photo_keys"]
    thresholds, candidates, top_k = options["thresholds"], options["candidates"], options["top_k"]
    if options["outfmt"] == "blast6":
        top_k = top_k or BLAST6_HITS
    query_split, chunk_size = options["query_split"], options["chunk_size"]

    stored = searcher = None
    if photo_keys:
        searcher = _photo_index(reference, model)
        encoder = searcher.encoder  # photos are embedded as the index's photos were
    elif embeddings:
        stored = read_embeddings(embeddings)
    if options["calibration"]:
        calibration = Calibration.load(user_path(options["calibration"]))
    else:  # fitted when the first DNA query needs it (a run of photos never does)
        calibration = partial(cached_calibration, table, candidates=candidates, progress=progress, num_proc=num_proc)
    engine = Identifier(
        Reference(table),
        thresholds,
        candidates,
        encoder=encoder,
        num_proc=num_proc,
        stored=stored,
        photo_keys=searcher,
        calibration=calibration,
        min_confidence=options["min_confidence"],
    )
    state = PartialState(cpu=not torch.cuda.is_available())  # under `accelerate launch`: a share of the chunks
    if state.num_processes > 1:
        with state.main_process_first():  # what is cached (seed index, calibration) is built once, by the main
            engine.prepare()
    stream = iter_queries(queries, query_split, problems)
    reused = 0
    bar = progress_bar(
        desc="identifying", unit="query", disable=not (progress and state.is_main_process), smoothing=0.1
    )
    try:
        for number in range(1_000_000_000):
            chunk = list(islice(stream, chunk_size))
            if not chunk:
                break
            done = parts / f"part-{number:05d}.parquet"
            if done.is_file():
                reused += 1
            elif number % state.num_processes != state.process_index:
                pass  # another process's chunk
            else:
                rows, hits = engine.identify(chunk, top_k)
                _write_part(pd.DataFrame(rows), done)
                if top_k:
                    _write_part(pd.DataFrame(hits), done.with_suffix(".hits.parquet"))
            bar.update(len(chunk))
    finally:
        bar.close()
        engine.close()
    state.wait_for_everyone()
    if not state.is_main_process:  # the main process joins the chunks and writes every output
        return IdentifyRun(pd.DataFrame(), [], out, len(table), len(engine.reference.barcodes), main_process=False)
    chunks = sorted(parts.glob("part-?????.parquet"))
    if not chunks:
        raise InputError(f"{queries}: no usable query records")
    computed = pd.concat([pd.read_parquet(p) for p in chunks], ignore_index=True)
    results = computed[[c for c in computed.columns if not c.startswith("_")]]
    write_atomically(out, lambda path: write_table(results, path, out.suffix))
    if top_k:
        hits = pd.concat([pd.read_parquet(p.with_suffix(".hits.parquet")) for p in chunks], ignore_index=True)
        if options["outfmt"] == "blast6":
            write_atomically(companion(out, "hits", ".blast6"), lambda path: write_blast6(hits, path))
        else:
            write_atomically(companion(out, "hits"), lambda path: write_table(hits, path, out.suffix))
    skipped = problems.to_frame()
    if len(skipped):
        skipped.to_csv(skipped_path(out), sep="\t", index=False)
    summary = summarize(computed, known_labels(table))
    companion(out, "summary", ".json").write_text(json.dumps(summary, indent=1))
    if any("expected_calibration_error" in s for s in summary):
        write_atomically(companion(out, "reliability", ".png"), lambda path: plot_reliability(computed, path))
    companion(out, "provenance", ".json").write_text(json.dumps(settings, indent=1))  # what the results came from
    shutil.rmtree(parts)
    return IdentifyRun(results, summary, out, len(table), len(engine.reference.barcodes), skipped, reused)


def write_blast6(hits: pd.DataFrame, path: Path) -> None:
    """Hits as BLAST's `-outfmt 6` (12 columns, no header); photo hits (no alignment) are left out."""
    dna = hits.dropna(subset=["pident"]) if "pident" in hits else hits.iloc[:0]
    frame = dna.reindex(columns=list(BLAST6_COLUMNS)).astype(object)
    frame["pident"] = [f"{value:.3f}" for value in frame["pident"]]
    frame["evalue"] = [f"{value:.3g}" for value in frame["evalue"]]
    frame["bitscore"] = [f"{value:.1f}" for value in frame["bitscore"]]
    frame.to_csv(path, sep="\t", header=False, index=False)


def _photo_index(reference: str | os.PathLike, model: str | None):
    """The index folder whose reference photos photo queries are matched to (`--photo-keys`)."""
    folder = user_path(reference)
    if not (folder / "image.faiss").is_file():
        raise InputError(
            f"{reference}: --photo-keys needs an index folder with reference photos (bioscan-hf index --model "
            "CLIBD_FOLDER or an image model); this one has none"
        )
    if model:
        raise InputError("--photo-keys embeds photos with the index's own model; leave out --model")
    return Searcher(folder)


def _write_part(frame: pd.DataFrame, path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    frame.to_parquet(partial, index=False)
    partial.replace(path)  # a chunk is either whole or absent
