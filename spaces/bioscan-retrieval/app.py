"""BIOSCAN retrieval Space: identify a specimen from its DNA barcode (or a key's processid).

Start: `python spaces/bioscan-retrieval/app.py` (artifacts are built on first start from the embedded
synthetic sample), or point it at your own index with `BIOSCAN_SPACE_INDEX=folder` (written by
`bioscan-hf index`). Image queries arrive with the CLIBD model; this version searches DNA keys.
"""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr
import pandas as pd

from bioscan_hf.retrieval import QueryError, Searcher

HERE = Path(__file__).resolve().parent
INDEX = Path(os.environ.get("BIOSCAN_SPACE_INDEX", HERE / "artifacts" / "index"))
NOTE = (
    "Keys come from the index in `{folder}` ({keys:,} specimens, model `{model}`). On the embedded sample "
    "the specimens are **synthetic**; with a real index they are real BIOSCAN-5M records."
)


def ensure_index(folder: Path = INDEX) -> Path:
    """Build the default index from the embedded synthetic sample when none exists yet."""
    if (folder / "index.json").exists():
        return folder
    from bioscan_hf.data.publish import prepare
    from bioscan_hf.data.sample import write_sample_release
    from bioscan_hf.retrieval import build_dna_index

    work = folder.parent
    write_sample_release(work / "release", scale="small", seed=0, images=False)
    prepare(work / "release", work / "dataset", configs=["metadata"])
    return build_dna_index(work / "dataset", "kmer6", folder)


def _answer(run) -> tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    empty = pd.DataFrame()
    try:
        result = run()
    except QueryError as err:
        return f"**Cannot search:** {err}", empty, empty, empty
    top = result.prediction.iloc[-1]
    status = (
        f"Best match: **{result.neighbours.iloc[0]['species'] or result.neighbours.iloc[0]['genus']}** "
        f"(similarity {result.neighbours.iloc[0]['similarity']:.3f}); species vote: {top['prediction']} "
        f"({100 * top['agreement']:.0f}% of neighbours agree)."
    )
    sites = result.neighbours[["coord-lon", "coord-lat", "species"]].dropna(subset=["coord-lon", "coord-lat"])
    sites = sites.rename(columns={"coord-lon": "longitude", "coord-lat": "latitude"}).fillna({"species": "?"})
    return status, result.neighbours, result.prediction, sites


def build_app(searcher: Searcher) -> gr.Blocks:
    """The Gradio page, with named API endpoints `/search_dna` and `/search_processid`."""

    def search_dna(sequence: str, fasta: str | None, k: float):
        text = Path(fasta).read_text(errors="replace") if fasta else sequence
        return _answer(lambda: searcher.search_dna(text, int(k)))

    def search_processid(processid: str, k: float):
        return _answer(lambda: searcher.search_processid(processid, int(k)))

    with gr.Blocks(title="BIOSCAN specimen identification") as app:
        gr.Markdown("# Identify a specimen from its DNA barcode")
        gr.Markdown(NOTE.format(folder=INDEX, keys=len(searcher.keys), model=searcher.info["model"]))
        k = gr.Slider(1, 50, value=10, step=1, label="neighbours (k)")
        with gr.Tab("DNA barcode"):
            sequence = gr.Textbox(label="COI barcode (raw or FASTA)", lines=4, max_length=20_000)
            fasta = gr.File(label="or upload a FASTA file", type="filepath", file_types=[".fa", ".fasta", ".txt"])
            dna_button = gr.Button("Search", variant="primary")
        with gr.Tab("processid"):
            processid = gr.Textbox(label="processid of an indexed specimen", placeholder="e.g. GMMVA27218-22")
            pid_button = gr.Button("Search", variant="primary")
        status = gr.Markdown()
        prediction = gr.Dataframe(label="predicted taxonomy (share of neighbours that agree)")
        neighbours = gr.Dataframe(label="nearest reference specimens")
        sites = gr.ScatterPlot(x="longitude", y="latitude", color="species", label="collection sites")
        outputs = [status, neighbours, prediction, sites]
        dna_button.click(search_dna, [sequence, fasta, k], outputs, api_name="search_dna")
        pid_button.click(search_processid, [processid, k], outputs, api_name="search_processid")
    app.queue(default_concurrency_limit=2, max_size=32)  # bounded: a burst waits instead of exhausting memory
    return app


if __name__ == "__main__":
    build_app(Searcher(ensure_index())).launch()
