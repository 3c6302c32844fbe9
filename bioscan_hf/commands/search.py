"""Search commands: `index` (reference indexes for the Space), `identify` (a plate against a reference
library) and `push-space` (the Space and its index to the Hub)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bioscan_hf.commands.common import EMBEDDINGS_HELP, MODEL_SPEC_HELP, Command, EncoderOptions, comma_list
from bioscan_hf.core.options import option
from bioscan_hf.core.paths import runnable
from bioscan_hf.data.sources import CALL_RANKS
from bioscan_hf.hub.upload import upload_folder
from bioscan_hf.search import build_index, identify
from bioscan_hf.search.engine import DEFAULT_CANDIDATES, DEFAULT_THRESHOLDS


@dataclass(kw_only=True)
class IndexOptions(EncoderOptions):
    dataset: str = option("folder written by `bioscan-hf prepare`")
    model: str = option(f"{MODEL_SPEC_HELP} (default kmer6)", "kmer6")
    config: str | None = option("dataset config (default: metadata; cropped_256 for image models)", None)
    out: str = option("index folder to write (FAISS indexes, keys.parquet, index.json)")
    approximate: bool = option("inverted-file indexes instead of exact search (millions of keys)", False)
    nprobe: int | None = option(
        "lists an approximate index searches per query (default 192: p95 < 50 ms at 1M keys on 2 cores; more = "
        "higher recall, slower: BENCHMARKS.md has the trade-off at 1M and 5.15M keys)",
        None,
    )
    embeddings: str | None = option(EMBEDDINGS_HELP, None)
    overwrite: bool = option(
        "write into a folder holding files index did not write (same-named files are replaced; no other file "
        "is deleted)",
        False,
    )


def run_index(o: IndexOptions) -> None:
    folder = build_index(
        o.dataset,
        o.model,
        o.out,
        config=o.config,
        approximate=o.approximate,
        encoder_options=o.encoder_options(),
        embeddings=o.embeddings,
        overwrite=o.overwrite,
        **({"nprobe": o.nprobe} if o.nprobe else {}),
    )
    print(f"index written to {folder}; start the Space (from a bioscan-hf checkout) with:")
    print(f"  {runnable('python')} spaces/bioscan-retrieval/app.py --index {folder}")


def thresholds(text: str | None) -> dict[str, float] | None:
    """`species=0.97,genus=0.94` → {"species": 0.97, "genus": 0.94} (percentages accepted)."""
    if text is None:
        return None
    parsed = {}
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


_DEFAULTS = ", ".join(f"{rank} {value:.0%}" for rank, value in DEFAULT_THRESHOLDS.items())


@dataclass(kw_only=True)
class IdentifyOptions:
    queries: str = option("FASTA, TSV/CSV, BOLD TSV, prepared dataset folder, or folder of photos", positional=True)
    reference: str = option("prepared dataset, index folder, BOLD TSV or taxonomy FASTA")
    out: str = option("results file: .tsv, .csv, .json or .parquet")
    split: str = option("query split when QUERIES is a prepared dataset (default test)", "test")
    reference_splits: str = option(
        "reference splits when REFERENCE is a prepared dataset (default train,key_unseen)", "train,key_unseen"
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
    thresholds: str | None = option("per-rank identity thresholds, e.g. species=0.97,genus=0.94", None)
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
        candidates=o.candidates,
        chunk_size=o.chunk_size,
        num_proc=o.num_proc,
        skip_bad=o.skip_bad,
        overwrite=o.overwrite,
    )
    print(result.report())


@dataclass(kw_only=True)
class PushSpaceOptions:
    repo_id: str = option("Hub Space id, e.g. me/bioscan-retrieval")
    app: str = option("the app folder", "spaces/bioscan-retrieval")
    index: str | None = option("an index folder to ship as artifacts/index (built on first start otherwise)", None)
    private: bool = option("create the repo as private", False)
    token: str | None = option("Hub token (default: the logged-in one)", None)


def run_push_space(o: PushSpaceOptions) -> None:
    with tempfile.TemporaryDirectory() as staging:
        folder = Path(staging) / "space"
        shutil.copytree(o.app, folder, ignore=shutil.ignore_patterns("artifacts", "__pycache__"))
        if o.index:
            shutil.copytree(o.index, folder / "artifacts" / "index")
        url = upload_folder(
            folder,
            o.repo_id,
            "space",
            token=o.token,
            private=o.private,
            message="Upload the BIOSCAN retrieval Space with bioscan-hf",
        )
    print(f"uploaded to {url}")


COMMANDS: dict[str, Command] = {
    "index": Command(
        IndexOptions,
        run_index,
        "Embed the keys (train + key_unseen) of a prepared dataset and write one FAISS index per key modality, "
        "OUT/keys.parquet (key metadata) and OUT/index.json. With a DNA model (BarcodeBERT folder, hf:…, kmerK) "
        "the keys are barcodes (metadata config); with an image model (timm:…, hf:…) photos; with a CLIBD folder "
        "they are barcodes and photos in one space, with thumbnails (image config, default cropped_256), so the "
        "Space can identify a photo.",
    ),
    "identify": Command(
        IdentifyOptions,
        run_identify,
        "Identify each query against a reference library and write one row per query: a call per rank (order, "
        "family, subfamily, genus, species, BIN) with a confidence and the number of reference records supporting "
        "it, the best hit (processid, % identity) and a note where a rank is not called ('no match at species: "
        "likely undescribed'). DNA: the references sharing the most codon-aware spaced seeds are aligned exactly "
        f"(edlib); a rank is called only when the best identity reaches its threshold ({_DEFAULTS}; BOLD ID "
        "engine style) and the hits within 1% of the best vote. QUERIES: FASTA, TSV/CSV (id + sequence columns), "
        "a BOLD TSV, a prepared dataset (with --split) or a folder of photos (--model CLIBD_FOLDER: matched to "
        "reference barcodes; --photo-keys: to the photos of an index folder). REFERENCE: a prepared dataset "
        "(--reference-splits), an index folder, a BOLD TSV, or a FASTA with SINTAX (tax=o:…,g:…,s:…) or BOLD "
        "(id|taxon|marker|BIN) headers. Runs in chunks; a stopped run resumes from its finished chunks when run "
        "again with the same inputs and options (checked by content: a changed query file is refused, named).",
        "example: bioscan-hf identify plate.fasta --reference bioscan-5m --out plate.tsv --top-k 5",
    ),
    "push-space": Command(PushSpaceOptions, run_push_space, "Upload the retrieval Space (app and index) to the Hub."),
}
