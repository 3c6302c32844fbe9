"""`identify`: a batch of queries against a reference, streamed in chunks, resumable, written as a table.

Each chunk of queries is identified and written to `<out>.parts/part-NNNNN.parquet` before the next is
read; a run that stops (killed, out of time) starts again where it stopped when run with the same
queries, reference and options, reusing the finished chunks. When all are done they are joined into
`out` (TSV, CSV, JSON or Parquet by its suffix) and the parts folder is removed. Beside `out`:
`<stem>.hits.<ext>` (with `top_k`), `<stem>.skipped.tsv` (records left out with `skip_bad`) and
`<stem>.summary.json` (per-rank coverage, and accuracy, over-classification, calibration error and
reliability where the queries' taxonomy is known, with `<stem>.reliability.png`). With
`outfmt="blast6"` the hits are written as BLAST's tabular format instead (`<stem>.hits.blast6`).

Calls are calibrated on the reference itself (`held_out.cached_calibration`: fitted on first use of a
reference, kept in the cache folder), or by a calibration file given (`bioscan-hf calibrate`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import count, islice
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bioscan_hf.core.console import progress_bar
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.options import RUN_ONLY
from bioscan_hf.core.outputs import OutputFile, check_all, companion, output_path, write_atomically
from bioscan_hf.core.paths import hash_file, user_path
from bioscan_hf.core.processes import process_state
from bioscan_hf.data.sources import (
    Problems,
    Query,
    is_prepared_dataset,
    iter_queries,
    skipped_path,
    source_digest,
    write_skipped,
)
from bioscan_hf.search.calibration import Calibration
from bioscan_hf.search.engine import Identifier
from bioscan_hf.search.held_out import cached_calibration, reference_digest
from bioscan_hf.search.plate import adapt_to_plate
from bioscan_hf.search.references import Reference, filter_references, read_library
from bioscan_hf.search.report import known_labels, plot_reliability, prepare_plot, summarize, summary_table
from bioscan_hf.search.settings import IdentifySettings

if TYPE_CHECKING:  # the model side is imported only by runs that embed (torch costs 2–3 s of a barcode run)
    from bioscan_hf.embedding import Encoder
    from bioscan_hf.search.searcher import Searcher

OUTPUT_SUFFIXES = (".tsv", ".csv", ".json", ".parquet")
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
#: The key of a part file's Parquet metadata holding the digest of the run that wrote it.
RUN_KEY = b"bioscan_hf_run"
#: What a chunk's rows hold (their hidden columns: what `adapt_to_plate` decides again from); chunks of a stopped
#: run of a version that wrote them otherwise are not resumed.
CHUNK_FORMAT = 2


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
    #: reference records left out as suspects (`--exclude`), and the file naming them
    excluded: int = 0
    exclude: str | None = None
    #: per rank of `ADAPTED_RANKS`, the plate's estimated share of queries whose label at that rank the reference
    #: holds, and the calibration's (`adapt_to_plate`); empty where not adapted
    known: dict[str, dict] = field(default_factory=dict)

    @property
    def known_species(self) -> dict | None:
        """The plate's estimated share of queries of species the reference holds (`known`'s species entry)."""
        return self.known.get("species")

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
        if self.excluded:
            lines.append(f"left out {self.excluded:,} suspect reference record(s) named in {self.exclude}")
        for rank, k in self.known.items():
            lines.append(
                f"{rank} confidences adapted to this plate: an estimated {k['plate']:.1%} of its {k['queries']:,} "
                f"queries with {_a(rank)} candidate are of {_a(rank)} the reference holds (the calibration's "
                f"held-out queries: {k['calibration']:.1%}; --per-query leaves them as for one query alone)"
            )
        return "\n".join([*lines, "", summary_table(self.summary)])


def _with_truth(rows: list[dict]) -> bool:
    """Whether result rows carry their queries' true taxonomy (the summary then scores the calls)."""
    return any(value is not None for row in rows for key, value in row.items() if key.startswith("true_"))


def _provenance(queries: str, reference: str, settings: IdentifySettings, references: pd.DataFrame) -> dict:
    """What a run's results depend on: the queries', the references' and the calibration file's content
    (digests), and the settings (but those that change neither results nor files)."""
    calibration = settings.calibration
    recorded = settings.as_dict(leave_out=RUN_ONLY)
    if not is_prepared_dataset(user_path(queries)):
        recorded["query_split"] = None  # a file of queries has no split: the option was not read
    return {
        "queries": queries,
        "queries_content": source_digest(queries, settings.query_split),
        "reference": reference,
        "reference_records": reference_digest(references),
        **recorded,
        **({"calibration_content": _file_digest(user_path(calibration))} if calibration else {}),
    }


def _of_run(provenance: dict) -> dict:
    """What a run's chunks depend on (what a resume compares): its provenance and the chunks' format."""
    return {**provenance, "chunk_format": CHUNK_FORMAT}


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    hash_file(digest, path)
    return digest.hexdigest()[:16]


#: What each setting of a run is, for the message naming what changed.
_SETTING_NAMES = {
    "queries_content": "the queries' content",
    "reference_records": "the reference records",
    "calibration_content": "the calibration file's content",
    "chunk_format": "the version of bioscan-hf that wrote its chunks",
}


def _changed(previous: dict | None, settings: dict) -> list[str]:
    if previous is None:
        return ["the settings of the stopped run are unreadable"]
    keys = [k for k in settings if previous.get(k) != settings[k]]
    return [_SETTING_NAMES.get(k, f"--{k.replace('_', '-')}") for k in keys]


def output_files(out: Path, settings: IdentifySettings) -> dict[str, OutputFile]:
    """Every file identify writes beside `out`, by role, under the package's output rule (identify's own:
    those of a run whose provenance file is beside them)."""
    ours = _written_by_identify(companion(out, "provenance", ".json"))
    main = OutputFile(out, "identify", settings.overwrite, ours=ours)
    return {
        "results": main,
        "hits": main.companion("hits"),
        "blast6": main.companion("hits", ".blast6"),
        "skipped": main.companion("skipped", ".tsv"),
        "summary": main.companion("summary", ".json"),
        "reliability": main.companion("reliability", ".png"),
        "provenance": main.companion("provenance", ".json"),
    }


def _written_by_identify(provenance: Path) -> bool:
    """Whether `provenance` is the provenance file of a finished identify run (what marks its outputs)."""
    try:
        return {"queries_content", "reference_records"} <= set(json.loads(provenance.read_text()))
    except (OSError, ValueError, TypeError):
        return False


def identify(
    queries: str | os.PathLike,
    reference: str | os.PathLike,
    out: str | os.PathLike,
    settings: IdentifySettings | None = None,
    *,
    progress: bool = True,
    **overrides,
) -> IdentifyRun:
    """Identify every query of `queries` against `reference` and write the results to `out`.

    `settings`: an `IdentifySettings` (its fields may also be given as keywords: `top_k=5`). Every file
    identify writes is checked before any work: one that exists and identify did not write is refused
    unless `overwrite`, and each is replaced only by a complete new file."""
    settings = IdentifySettings.given(settings, **overrides)
    out = output_path(out, OUTPUT_SUFFIXES)
    files = output_files(out, settings)
    check_all(files.values())
    parts = out.with_name(out.name + ".parts")
    if parts.exists() and not (parts / "settings.json").is_file():
        raise InputError(
            f"{parts} exists and was not written by bioscan-hf identify (it holds no settings.json); nothing was "
            "written. Move it away or give another --out"
        )
    problems = Problems(skip=settings.skip_bad)
    # the model first: a missing or damaged folder stops the run before the reference is read
    encoder = None
    if settings.model and not settings.photo_keys:
        from bioscan_hf.embedding import load_encoder

        encoder = load_encoder(settings.model)
    table, excluded = read_library(reference, settings, problems)
    table = filter_references(table, settings.within, settings.country)
    provenance = _provenance(str(queries), str(reference), settings, table)
    if parts.is_dir() and any(parts.glob("part-?????.parquet")):  # no chunk finished: start afresh
        try:
            previous = json.loads((parts / "settings.json").read_text())
        except (OSError, ValueError):
            previous = None
        changed = _changed(previous, _of_run(provenance))
        if changed:
            raise InputError(
                f"{parts} holds chunks of a run with other queries, reference or options ({', '.join(changed)} "
                "changed); remove that folder to start again, or rerun with the same inputs and options to resume"
            )
    parts.mkdir(parents=True, exist_ok=True)
    (parts / "settings.json").write_text(json.dumps(_of_run(provenance), indent=1))
    try:
        run = _run(queries, reference, files, parts, provenance, table, problems, settings, encoder, progress)
        run.excluded, run.exclude = excluded, settings.exclude
        return run
    except BaseException:
        if not any(parts.glob("part-?????.parquet")):  # nothing to resume from: leave nothing behind
            shutil.rmtree(parts, ignore_errors=True)
        raise


def _run(
    queries: str | os.PathLike,
    reference: str | os.PathLike,
    files: dict[str, OutputFile],
    parts: Path,
    provenance: dict,
    table: pd.DataFrame,
    problems: Problems,
    settings: IdentifySettings,
    encoder: Encoder | None,
    progress: bool,
) -> IdentifyRun:
    """The chunked run of `identify` (resuming from the finished chunks in `parts`)."""
    top_k = settings.top_k or (BLAST6_HITS if settings.outfmt == "blast6" else 0)
    stored = searcher = None
    if settings.photo_keys:
        searcher = _photo_index(reference)
        encoder = searcher.encoder  # photos are embedded as the index's photos were
    elif settings.embeddings:
        from bioscan_hf.embedding.store import read_embeddings

        stored = read_embeddings(settings.embeddings)
    if settings.calibration:
        calibration = Calibration.load(user_path(settings.calibration))
    else:  # fitted when the first DNA query needs it (a run of photos never does)
        calibration = partial(
            cached_calibration,
            table,
            settings.calibration_settings(),
            progress=progress,
            digest=provenance["reference_records"],
        )
    engine = Identifier(
        Reference(table),
        settings.thresholds,
        settings.candidates,
        encoder=encoder,
        num_proc=settings.num_proc,
        stored=stored,
        photo_keys=searcher,
        calibration=calibration,
        min_confidence=settings.min_confidence,
        strand=settings.strand,
    )
    state = process_state()  # under `accelerate launch`: a share of the chunks
    if state.num_processes > 1:
        with state.main_process_first():  # what is cached (seed index, calibration) is built once, by the main
            engine.prepare()
    run = hashlib.sha256(json.dumps(_of_run(provenance), sort_keys=True).encode()).hexdigest()[:16].encode()
    stream = iter_queries(queries, settings.query_split, problems)
    bar = progress_bar(
        desc="identifying", unit="query", disable=not (progress and state.is_main_process), smoothing=0.1
    )
    reused: list[Path] = []
    todo = _chunks_to_identify(stream, settings.chunk_size, parts, run, state, bar, reused)
    try:
        for number, (done, rows, hits) in enumerate(engine.identify_chunks(todo, top_k)):
            if top_k:  # the hits first: a part is done when its rows are there
                _write_part(pd.DataFrame(hits), done.with_suffix(".hits.parquet"), run)
            _write_part(pd.DataFrame(rows), done, run)
            bar.update(len(rows))
            if number == 0 and state.is_main_process and _with_truth(rows):
                prepare_plot()  # the reliability plot's, drawn at the end: now, while the workers search on
    finally:
        bar.close()
        engine.close()
    state.wait_for_everyone()
    out = files["results"].path
    if not state.is_main_process:  # the main process joins the chunks and writes every output
        return IdentifyRun(pd.DataFrame(), [], out, len(table), len(engine.reference.barcodes), main_process=False)
    chunks = sorted(parts.glob("part-?????.parquet"))
    if not chunks:
        raise InputError(f"{queries}: no usable query records")
    computed = pd.concat([_read_part(p, run) for p in chunks], ignore_index=True)
    known: dict[str, dict] = {}
    if not (settings.per_query or settings.thresholds):
        computed, known = adapt_to_plate(computed, settings.min_confidence)
    results = computed[[c for c in computed.columns if not c.startswith("_")]]
    files["results"].write_table(results)
    if top_k:
        hits = pd.concat([_read_part(p.with_suffix(".hits.parquet"), run) for p in chunks], ignore_index=True)
        if settings.outfmt == "blast6":
            files["blast6"].write(lambda path: write_blast6(hits, path))
        else:
            files["hits"].write_table(hits, out.suffix)
    skipped = write_skipped(out, problems)
    summary = summarize(computed, known_labels(table))
    for entry in summary:
        if entry["rank"] in known:
            entry[f"known_{entry['rank']}_share"] = known[entry["rank"]]
    files["summary"].write_json(summary)
    if any("expected_calibration_error" in s for s in summary):
        files["reliability"].write(lambda path: plot_reliability(computed, path))
    files["provenance"].write_json(provenance)  # what the results came from (and: identify wrote them)
    shutil.rmtree(parts)
    return IdentifyRun(
        results,
        summary,
        out,
        len(table),
        len(engine.reference.barcodes),
        skipped,
        len(reused),
        known=known,
    )


def _a(rank: str) -> str:
    """The rank with its article ("an order", "a species")."""
    return f"{'an' if rank[0] in 'aeiou' else 'a'} {rank}"


def write_blast6(hits: pd.DataFrame, path: Path) -> None:
    """Hits as BLAST's `-outfmt 6` (12 columns, no header); photo hits (no alignment) are left out."""
    dna = hits.dropna(subset=["pident"]) if "pident" in hits else hits.iloc[:0]
    frame = dna.reindex(columns=list(BLAST6_COLUMNS)).astype(object)
    frame["pident"] = [f"{value:.3f}" for value in frame["pident"]]
    frame["evalue"] = [f"{value:.3g}" for value in frame["evalue"]]
    frame["bitscore"] = [f"{value:.1f}" for value in frame["bitscore"]]
    frame.to_csv(path, sep="\t", header=False, index=False)


def _chunks_to_identify(
    stream: Iterator[Query], size: int, parts: Path, run: bytes, state, bar, reused: list[Path]
) -> Iterator[tuple[Path, list[Query]]]:
    """The chunks of `size` queries this process identifies, each with the part file it is written to:
    not those finished by an earlier run with the same digest `run` (checked, and added to `reused`), nor,
    under `accelerate launch`, other processes' chunks (counted on the progress bar as they pass)."""
    for number in count():
        chunk = list(islice(stream, size))
        if not chunk:
            return
        done = parts / f"part-{number:05d}.parquet"
        if done.is_file():
            _check_part(done, run)
            reused.append(done)
            bar.update(len(chunk))
        elif number % state.num_processes != state.process_index:
            bar.update(len(chunk))  # another process's chunk
        else:
            yield done, chunk


def _photo_index(reference: str | os.PathLike) -> Searcher:
    """The index folder whose reference photos photo queries are matched to (`--photo-keys`)."""
    folder = user_path(reference)
    if not (folder / "image.faiss").is_file():
        raise InputError(
            f"{reference}: --photo-keys needs an index folder with reference photos (bioscan-hf index --model "
            "CLIBD_FOLDER or an image model); this one has none"
        )
    from bioscan_hf.search.searcher import Searcher

    return Searcher(folder)


def _write_part(frame: pd.DataFrame, path: Path, run: bytes) -> None:
    """A chunk's rows, tagged with the run's digest, written whole or not at all."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), RUN_KEY: run})
    write_atomically(path, lambda partial: pq.write_table(table, partial))


def _check_part(path: Path, run: bytes) -> None:
    """Refuse a finished chunk that another run wrote, or that is damaged, naming it and the fix."""
    try:
        found = (pq.read_schema(path).metadata or {}).get(RUN_KEY)
    except (OSError, pa.ArrowException) as err:
        raise InputError(
            f"{path}: a finished chunk of the stopped run is unreadable ({err}); remove it (it is computed "
            "again) and rerun to resume"
        ) from None
    if found != run:
        raise InputError(
            f"{path} was not written by this run (other queries, reference or settings); remove the folder "
            f"{path.parent} to start again"
        )


def _read_part(path: Path, run: bytes) -> pd.DataFrame:
    _check_part(path, run)
    return pd.read_parquet(path)
