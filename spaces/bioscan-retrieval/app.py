"""BIOSCAN retrieval Space: identify a specimen from a photo, a DNA barcode or a key's processid.

Start: `python spaces/bioscan-retrieval/app.py`. Without an index, the first start builds one from the
embedded synthetic sample: it trains a small CLIBD for a few CPU minutes so photos and barcodes share
one space. Point it at your own index with `BIOSCAN_SPACE_INDEX=folder` (written by `bioscan-hf index`).

A barcode searched among the reference barcodes is identified by alignment (`bioscan-hf identify`'s
engine): % identity per hit and a call per rank with its confidence. Photos, processids and barcodes
searched among photos use the index's model (cosine similarity and the neighbours' vote).
"""

from __future__ import annotations

import html
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pandas as pd
from PIL import Image

from bioscan_hf.clusters.linkage import LINK_DISTANCE
from bioscan_hf.clusters.registry import placement, read_registry
from bioscan_hf.search import IndexFolderError, QueryError, Searcher, SearchResult

HERE = Path(__file__).resolve().parent
INDEX = Path(os.environ.get("BIOSCAN_SPACE_INDEX", HERE / "artifacts" / "index"))
#: Largest upload accepted (bytes): a BIOSCAN photo is ~100 KB at 256 px, a few MB at full size.
MAX_UPLOAD_BYTES = int(os.environ.get("BIOSCAN_SPACE_MAX_UPLOAD", 10 * 1024 * 1024))
KEY_CHOICES = {"reference barcodes (DNA)": "dna", "reference photos": "image"}
NOTE = (
    "Keys come from the index in `{folder}` ({keys:,} specimens, model `{model}`). On the embedded sample "
    "the specimens and photos are **synthetic** (generated, not real insects); with a real index they are "
    "real BIOSCAN-5M records."
)


def ensure_index(folder: Path = INDEX, clibd_steps: int = 100, scale: str | int = "small") -> Path:
    """Build the default index from the embedded synthetic sample when none exists yet (`bioscan-hf
    space-index`: a small CLIBD trained on the sample's photos and barcodes, then its DNA and image keys).
    It runs as a command: the Space reaches the index folder, never the pipeline that builds it."""
    if (folder / "index.json").exists():
        return folder
    command = [sys.executable, "-m", "bioscan_hf.cli", "space-index", "--out", str(folder)]
    subprocess.run([*command, "--clibd-steps", str(clibd_steps), "--scale", str(scale)], check=True)
    return folder


def _gallery(result: SearchResult) -> list[tuple[Image.Image, str]]:
    items = []
    for thumbnail, (_, row) in zip(result.thumbnails, result.neighbours.iterrows()):
        if thumbnail is not None:
            score = f"{row['pident']:.2f}%" if "pident" in row else f"{row['similarity']:.3f}"
            caption = f"{_name(row)} · {score}"
            items.append((Image.open(io.BytesIO(thumbnail)), caption))
    return items


#: Characters that start Markdown markup inside a line (links and images `[…](…)`, emphasis, code, tables,
#: strike-through) and the `:` of bare `https://` autolinks.
_MARKUP = re.compile(r"([\\`*_\[\]~|:])")


def as_text(text: str) -> str:
    """Text that came from a user or a dataset (ids, FASTA headers, names, messages echoing them), made
    safe for a Markdown component: HTML escaped and Markdown markup backslash-escaped, so it shows as the
    characters typed and never becomes a link, an image or markup."""
    return _MARKUP.sub(r"\\\1", html.escape(text, quote=False))


def _name(row: pd.Series) -> str:
    return row["species"] or row["genus"] or row["family"] or row["order"] or "?"


def _status(result: SearchResult) -> str:
    """One line on the best match and the call: identity, coverage and the finest rank called (with its
    calibrated confidence) for a barcode identified by alignment, similarity and the neighbours' vote for an
    embedding search."""
    if result.neighbours.empty:
        return "No reference barcode is similar to the query: nothing in this index matches it."
    best = result.neighbours.iloc[0]
    if "pident" in result.neighbours:
        called = result.prediction[result.prediction["prediction"] != "(no call)"]
        finest = called[called["rank"] != "dna_bin"].iloc[-1] if len(called[called["rank"] != "dna_bin"]) else None
        call = (
            f"identified to {finest['rank']} as **{as_text(str(finest['prediction']))}** "
            f"(confidence {finest['confidence']:.2f}, "
            f"{finest['support']} reference records agree)"
            if finest is not None
            else "no rank could be called"
        )
        return (
            f"Best match: **{as_text(_name(best))}** ({best['pident']:.2f}% identity over {best['length']} bases, "
            f"{best['qcovs']:.0f}% of the query); {call}."
        )
    top = result.prediction.iloc[-1]
    return (
        f"Best match: **{as_text(_name(best))}** (similarity {best['similarity']:.3f}); species vote: "
        f"{as_text(str(top['prediction']))} "
        f"({100 * top['agreement']:.0f}% of neighbours agree)."
    )


#: The collection-site plot before a search (empty: never a "Loading" placeholder).
NO_SITES = pd.DataFrame(
    {"longitude": pd.Series(dtype=float), "latitude": pd.Series(dtype=float), "species": pd.Series(dtype=str)}
)
#: The per-rank table's columns, shown (empty) before the first search.
PREDICTION_COLUMNS = ["rank", "prediction", "candidate", "confidence", "support"]


def empty_tables(searcher: Searcher) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The neighbours and prediction tables with their headers and no row (before a search, after an error):
    never a table headed `1 2 3`."""
    measure = "pident" if "dna" in searcher.modalities else "similarity"
    columns = [measure, *(c for c in searcher.keys.columns if c not in ("dna_barcode", "thumbnail"))]
    return pd.DataFrame(columns=columns), pd.DataFrame(columns=PREDICTION_COLUMNS)


def ready_text(searcher: Searcher) -> str:
    """The status line once the page is connected: what to do (a headless browser waits for "Ready")."""
    return (
        f"Ready: {len(searcher.keys):,} reference specimens. Upload a photo, paste a barcode or give a processid, "
        "then press Search; the best match and a call per rank appear here."
    )


#: A cluster registry in the index folder (`bioscan-hf cluster DATASET --out INDEX/clusters.tsv` writes it):
#: a barcode query is then placed among the clusters (joins one, or would found a new one).
REGISTRY_FILE = "clusters.registry.parquet"


def cluster_line(result: SearchResult, registry: pd.DataFrame | None) -> str:
    """Where a barcode identified by alignment falls among the index's clusters (empty without a registry)."""
    if registry is None or "pident" not in result.neighbours or result.neighbours.empty:
        return ""
    joins, nearest = placement(result.neighbours["processid"], result.neighbours["pident"] / 100, registry)
    shown = ", ".join(f"{as_text(c)} ({100 * d:.1f}%)" for c, d in nearest[:3])
    if joins is not None:
        return f"Cluster: joins **{as_text(joins)}** (its nearest member {100 * nearest[0][1]:.1f}% away)."
    shown = shown or "none among the hits"
    return f"Cluster: would found a **new cluster** (none within {LINK_DISTANCE:.1%}); nearest clusters: {shown}."


def _answer(
    run, searcher: Searcher, registry: pd.DataFrame | None = None
) -> tuple[str, list, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    neighbours, prediction = empty_tables(searcher)
    try:
        result = run()
    except QueryError as err:  # the message may echo the user's text: escaped, never rendered as HTML
        return f"**Cannot search:** {as_text(str(err))}", [], neighbours, prediction, NO_SITES
    status = _status(result)
    if line := cluster_line(result, registry):
        status = f"{status}\n\n{line}"
    if result.note:  # the best match first; the notes that qualify it (no call at a rank, FASTA) after it
        status = f"{status}\n\n{as_text(result.note)}"
    sites = result.neighbours[["coord-lon", "coord-lat", "species"]].dropna(subset=["coord-lon", "coord-lat"])
    sites = sites.rename(columns={"coord-lon": "longitude", "coord-lat": "latitude"}).fillna({"species": "?"})
    return status, _gallery(result), result.neighbours, result.prediction, sites


def _checked_upload(path: str | None, what: str, max_bytes: int) -> str:
    if not path:
        raise QueryError(f"no {what} was uploaded")
    size = Path(path).stat().st_size
    if size > max_bytes:
        raise QueryError(f"the {what} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB")
    return path


def build_app(searcher: Searcher, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> gr.Blocks:
    """The Gradio page, with named API endpoints `/search_image`, `/search_dna` and `/search_processid`."""
    choices = [label for label, modality in KEY_CHOICES.items() if modality in searcher.modalities]
    registry = read_registry(searcher.folder / REGISTRY_FILE) if (searcher.folder / REGISTRY_FILE).is_file() else None

    def modality(label: str) -> str:
        return KEY_CHOICES.get(label, "dna")

    def search_image(path: str | None, keys: str, k: float):
        def run():
            return searcher.search_image(_checked_upload(path, "photo", max_upload_bytes), int(k), modality(keys))

        return _answer(run, searcher)

    def search_dna(sequence: str = "", fasta: str | None = None, keys: str = choices[0], k: float = 10):
        def run():
            if fasta:
                text = Path(_checked_upload(fasta, "FASTA file", max_upload_bytes)).read_text(errors="replace")
            else:
                text = sequence
            if modality(keys) == "dna":  # barcode against barcodes: the identification engine (alignment)
                return searcher.identify_dna(text, int(k))
            return searcher.search_dna(text, int(k), modality(keys))

        return _answer(run, searcher, registry)

    def search_processid(processid: str, keys: str, k: float):
        return _answer(lambda: searcher.search_processid(processid, int(k), modality(keys)), searcher)

    with gr.Blocks(title="BIOSCAN specimen identification") as app:
        gr.Markdown("# Identify an insect from a photo or a DNA barcode")
        model = searcher.info.get("source_model", searcher.info["model"])
        gr.Markdown(NOTE.format(folder=searcher.folder, keys=len(searcher.keys), model=model))
        with gr.Row():
            keys = gr.Radio(choices, value=choices[0], label="search among", interactive=len(choices) > 1)
            k = gr.Slider(1, 50, value=10, step=1, label="neighbours (k)")
        with gr.Tab("Photo"):
            # a File, not an Image: the app decodes uploads itself (pixel limit, clear errors), never gradio
            image = gr.File(label="specimen photo (JPEG or PNG)", type="filepath", file_types=["image"])
            image_button = gr.Button("Search", variant="primary", elem_id="search-image")
        with gr.Tab("DNA barcode"):
            sequence = gr.Textbox(
                value="", label="COI barcode (raw or FASTA)", lines=4, max_length=20_000, elem_id="dna-query"
            )
            fasta = gr.File(
                value=None, label="or upload a FASTA file", type="filepath", file_types=[".fa", ".fasta", ".txt"]
            )
            dna_button = gr.Button("Search", variant="primary", elem_id="search-dna")
        with gr.Tab("processid"):
            processid = gr.Textbox(
                label="processid of an indexed specimen", placeholder="e.g. GMMVA27218-22", elem_id="processid-query"
            )
            pid_button = gr.Button("Search", variant="primary", elem_id="search-processid")
        status = gr.Markdown("Connecting to the search…", label="status", elem_id="status")
        gallery = gr.Gallery(label="nearest reference specimens", columns=5, height="auto")
        no_neighbours, no_prediction = empty_tables(searcher)
        prediction = gr.Dataframe(
            no_prediction,
            label="predicted taxonomy: per-rank call with confidence (barcodes) or share of neighbours that agree",
        )
        neighbours = gr.Dataframe(
            no_neighbours,
            label="nearest reference specimens: % identity (barcodes, aligned) or similarity, taxonomy, BIN",
        )
        sites = gr.ScatterPlot(NO_SITES, x="longitude", y="latitude", color="species", label="collection sites")
        outputs = [status, gallery, neighbours, prediction, sites]
        image_button.click(search_image, [image, keys, k], outputs, api_name="search_image")
        dna_button.click(search_dna, [sequence, fasta, keys, k], outputs, api_name="search_dna")
        pid_button.click(search_processid, [processid, keys, k], outputs, api_name="search_processid")
        app.load(lambda: ready_text(searcher), None, status, api_name=False)
    app.queue(default_concurrency_limit=2, max_size=32)  # bounded: a burst waits instead of exhausting memory
    return app


def error_page(message: str) -> gr.Blocks:
    """The page served when the index folder cannot be opened: which file, and how to rebuild it."""
    with gr.Blocks(title="BIOSCAN specimen identification") as app:
        gr.Markdown("# The reference index could not be opened")
        gr.Markdown(as_text(message), elem_id="status")
    return app


def main() -> None:
    """Command line: `python app.py [--index DIR] [--host H] [--port P]` (environment variables work too)."""
    import argparse

    parser = argparse.ArgumentParser(description="The BIOSCAN retrieval Space.")
    parser.add_argument(
        "--index", type=Path, default=INDEX, help="index folder (`bioscan-hf index`); env BIOSCAN_SPACE_INDEX"
    )
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args()
    folder = args.index if (args.index / "index.json").exists() else ensure_index(args.index)
    try:
        app = build_app(Searcher(folder))
    except IndexFolderError as err:  # a page that says which file is damaged and how to rebuild it
        app = error_page(str(err))
    app.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_UPLOAD_BYTES)


if __name__ == "__main__":
    main()
