"""Search commands: `index` (reference indexes for the Space) and `push-space` (the Space and its index to
the Hub); identification is `commands/identify.py`."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bioscan_hf.commands.common import EMBEDDINGS_HELP, MODEL_SPEC_HELP, Command, EncoderOptions
from bioscan_hf.core.options import option
from bioscan_hf.core.paths import runnable
from bioscan_hf.hub.upload import upload_folder
from bioscan_hf.search import build_index


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
    "push-space": Command(PushSpaceOptions, run_push_space, "Upload the retrieval Space (app and index) to the Hub."),
}
