"""Search commands: `index` (reference indexes for the Space) and `push-space` (the Space and its index to
the Hub); identification is `commands/identify.py`."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bioscan_hf.commands.common import Command
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.options import option
from bioscan_hf.core.paths import existing_path, runnable, space_app
from bioscan_hf.core.specs import SPEC_HELP
from bioscan_hf.hub.settings import HubSettings
from bioscan_hf.search.settings import IndexSettings


@dataclass(frozen=True, kw_only=True)
class IndexInputs:
    dataset: str = option("folder written by `bioscan-hf prepare`")
    model: str = option(f"{SPEC_HELP} (default kmer6)", "kmer6")
    out: str = option("index folder to write (FAISS indexes, keys.parquet, index.json)")


def run_index(inputs: IndexInputs, settings: IndexSettings) -> None:
    from bioscan_hf.search.index import build_index

    folder = build_index(inputs.dataset, inputs.model, inputs.out, settings)
    app = space_app()
    print(f"index written to {folder}; start the Space with:")
    if app is not None:
        print(f"  {runnable('python')} {app / 'app.py'} --index {folder}")
    else:
        print(f"  python …/spaces/bioscan-retrieval/app.py --index {folder}   (from a bioscan-hf checkout)")


@dataclass(kw_only=True)
class PushSpaceInputs:
    app: str | None = option("the app folder (default: the checkout's spaces/bioscan-retrieval)", None)
    index: str | None = option("an index folder to ship as artifacts/index (built on first start otherwise)", None)


def run_push_space(inputs: PushSpaceInputs, hub: HubSettings) -> None:
    from bioscan_hf.hub.upload import upload_folder

    app = existing_path(inputs.app, "Space app folder") if inputs.app else space_app()
    if app is None:
        raise InputError("no Space app folder beside this installation; give --app (a checkout's Space folder)")
    with tempfile.TemporaryDirectory() as staging:
        folder = Path(staging) / "space"
        shutil.copytree(app, folder, ignore=shutil.ignore_patterns("artifacts", "__pycache__"))
        if inputs.index:
            shutil.copytree(inputs.index, folder / "artifacts" / "index")
        url = upload_folder(folder, "space", hub, message="Upload the BIOSCAN retrieval Space with bioscan-hf")
    print(f"uploaded to {url}")


COMMANDS: dict[str, Command] = {
    "index": Command(
        (IndexInputs, IndexSettings),
        run_index,
        "Embed the keys (train + key_unseen) of a prepared dataset and write one FAISS index per key modality, "
        "OUT/keys.parquet (key metadata) and OUT/index.json. With a DNA model (BarcodeBERT folder, hf:…, kmerK) "
        "the keys are barcodes (metadata config); with an image model (timm:…, hf:…) photos; with a CLIBD folder "
        "they are barcodes and photos in one space, with thumbnails (image config, default cropped_256), so the "
        "Space can identify a photo.",
    ),
    "push-space": Command(
        (PushSpaceInputs, HubSettings), run_push_space, "Upload the retrieval Space (app and index) to the Hub."
    ),
}
