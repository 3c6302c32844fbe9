"""Reference indexes: embed the key specimens of a prepared dataset and write FAISS indexes and their key
table (`build_index`), read by `Searcher`, the Space and `identify --reference INDEX`.

With a DNA model (BarcodeBERT folder, `hf:…`, `kmerK`) the keys are barcodes; with an image model photos
(with thumbnails); with a CLIBD folder both, in one space, so a photo can be searched against reference
barcodes and the other way round.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import datasets
import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bioscan_hf.core.errors import InputError
from bioscan_hf.core.outputs import OutputFolderError, claim_output_folder, owner, release_output_folder
from bioscan_hf.core.paths import user_path
from bioscan_hf.core.specs import ModelSpec
from bioscan_hf.core.vectors import id_index, normalize
from bioscan_hf.data.images import thumbnail_jpeg
from bioscan_hf.data.prepared import load_prepared, rank_names
from bioscan_hf.data.schema import CALL_RANKS, LINEAGE_RANKS
from bioscan_hf.embedding import load_encoder
from bioscan_hf.embedding.store import read_embeddings, stored_or_embedded, stored_or_embedded_images
from bioscan_hf.search.settings import IndexSettings

TABLE_COLUMNS = (
    "processid",
    "split",
    *LINEAGE_RANKS,
    "dna_bin",
    "country",
    "province_state",
    "coord-lat",
    "coord-lon",
    "dna_barcode",
)
#: Where an index keeps a copy of the model that embeds queries (a folder model; `kmerK` needs none).
MODEL_FOLDER = "model"
#: encoder options recorded in index.json, so queries are embedded as the keys were
QUERY_ENCODER_OPTIONS = ("pooling", "trust_remote_code")


def build_index(
    dataset_dir: str | os.PathLike,
    model: str,
    out: str | os.PathLike,
    settings: IndexSettings | None = None,
    **overrides,
) -> Path:
    """Embed the key splits and write `{modality}.faiss`, `keys.parquet` and `index.json` into `out`.

    `model`: a BarcodeBERT folder or `kmerK` (DNA keys, from the `metadata` config), or a CLIBD folder
    (DNA and image keys, from an image config, default `cropped_256`; keys whose image does not decode
    are left out of the image index and listed in index.json). A model folder is copied into
    `out/model`, so the index folder alone answers queries wherever it is moved or uploaded. Exact
    inner-product search by default; `approximate=True` builds inverted-file indexes for millions of
    keys, searching `nprobe` lists per query (more: higher recall, slower; BENCHMARKS.md). `embeddings`:
    a file of `bioscan-hf embed` by the same model; the keys it holds are read, not embedded again.
    `settings`: an `IndexSettings` (its fields may also be given as keywords: `approximate=True`).

    `out` must be new, empty or an index folder written before (`overwrite=True` writes into another
    folder); the index is built in `out/.staging` and moved in only when complete, `index.json` last, so
    a failed run leaves a previous index as it was.
    """
    settings = IndexSettings.given(settings, **overrides)
    out = user_path(out)
    ours = owner(out) == "index" if out.is_dir() else True
    created = claim_output_folder(out, "index", settings.overwrite)
    try:
        found = _build_index(dataset_dir, model, out, settings)
        return _move_in(found, out, ours)
    finally:
        shutil.rmtree(out / ".staging", ignore_errors=True)
        release_output_folder(out, created)


def _build_index(dataset_dir: str | os.PathLike, model: str, out: Path, settings: IndexSettings) -> Path:
    encoder_options = settings.encoder_options()
    encoder = load_encoder(model, **encoder_options)
    splits, approximate, nprobe = settings.splits, settings.approximate, settings.nprobe
    embeddings = settings.embeddings
    config = settings.config or ("cropped_256" if encoder.has_images else "metadata")
    data = load_prepared(dataset_dir, config)
    parts = [data[s] for s in splits if s in data and data[s].num_rows]
    if not parts:
        raise InputError(f"{dataset_dir} has no records in {', '.join(splits)} to index")
    keys = datasets.concatenate_datasets(parts)
    arrow = keys.with_format("arrow")  # the key table is written from Arrow: no Python string per key
    table = {c: arrow[c] for c in TABLE_COLUMNS if c not in LINEAGE_RANKS and c != "dna_bin"}
    for rank in CALL_RANKS:
        table[rank] = pa.array(rank_names(keys, rank), pa.string())
    vectors: dict[str, np.ndarray] = {}
    rows: dict[str, np.ndarray] = {}
    recorded = {k: v for k, v in encoder_options.items() if k in QUERY_ENCODER_OPTIONS}
    info: dict = {"model": str(model), "encoder": type(encoder).__name__, "config": config, **recorded}
    stored = read_embeddings(embeddings) if embeddings else None
    if stored is not None:
        stored.check_model(encoder)
        info["embeddings"] = os.fspath(embeddings)
    if encoder.has_dna:
        barcodes = arrow["dna_barcode"]
        vectors["dna"] = stored_or_embedded(
            stored, "dna", keys["processid"][:], lambda positions: encoder.embed_distinct(_taken(barcodes, positions))
        )
        rows["dna"] = np.arange(len(keys))
    if encoder.has_images:
        if "image" not in keys.features:
            raise InputError(f"config {config!r} has no images; an index of {model} needs an image config")
        image, ok, thumbnails = stored_or_embedded_images(encoder, keys, stored, thumbnail=thumbnail_jpeg)
        vectors["image"], rows["image"] = image[ok], np.flatnonzero(ok)
        table["thumbnail"] = pa.array(thumbnails, pa.binary())
        info["undecodable_images"] = encoder.undecodable
    out = out / ".staging"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    spec = ModelSpec.parse(model)
    if spec.folder is not None:  # the query encoder travels with the index (e.g. to a Space by push-space)
        shutil.copytree(spec.folder, out / MODEL_FOLDER, ignore=shutil.ignore_patterns("checkpoint-*"))
        info.update(model=str(spec.with_location(MODEL_FOLDER)), source_model=str(model))
    for modality, matrix in vectors.items():
        matrix = normalize(matrix, copy=False)
        index = id_index(matrix, approximate, nprobe)
        index.add_with_ids(matrix, rows[modality].astype(np.int64))
        faiss.write_index(index, str(out / f"{modality}.faiss"))
    columns = [*TABLE_COLUMNS, *(["thumbnail"] if encoder.has_images else [])]
    pq.write_table(pa.table({c: table[c] for c in columns}), out / "keys.parquet")
    info.update(
        modalities=list(vectors),
        keys=len(keys),
        dim=int(next(iter(vectors.values())).shape[1]),
        approximate=approximate,
        splits=list(splits),
    )
    if approximate:
        info["nprobe"] = nprobe
    (out / "index.json").write_text(json.dumps(info, indent=2))
    return out


def _taken(column: pa.ChunkedArray, positions: np.ndarray) -> pa.ChunkedArray:
    """`column` at `positions`: itself when that is every row in order; else taken with 64-bit offsets (the
    barcodes of 5.15M records are more than 2 GB of text)."""
    if len(positions) == len(column) and np.array_equal(positions, np.arange(len(column))):
        return column
    return column.cast(pa.large_string()).take(pa.array(positions))


def _move_in(staging: Path, out: Path, ours: bool) -> Path:
    """Move a complete index from `staging` into `out`, `index.json` last (an old index stops looking
    complete first); a model folder is replaced only where this command wrote the one there."""
    for path in staging.iterdir():
        if (out / path.name).is_dir() and not ours:
            raise OutputFolderError(f"{out / path.name} is a folder index did not write; give another --out")
    (out / "index.json").unlink(missing_ok=True)
    for path in sorted(staging.iterdir(), key=lambda p: p.name == "index.json"):
        target = out / path.name
        if target.is_dir():
            shutil.rmtree(target)  # the model copy an earlier run of index wrote here
        path.replace(target)
    return out
