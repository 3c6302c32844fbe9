"""Embeddings computed once, written to Parquet and reused (`bioscan-hf embed`; `--embeddings` on `index`,
`identify` and `evaluate`).

A file holds one row per record and modality: `id` (the processid, or the FASTA/TSV id, or a photo's file
stem), `modality` ("dna" or "image") and `embedding` (float32, the encoder's output as it is, not
normalised). The Parquet schema metadata records the model spec, its fingerprint (a hash of the model
folder's files and the pooling) and where the records came from, so vectors of one model are never taken
for another's. pandas and `load_dataset("parquet", data_files=…)` read the file as it is.

Under `accelerate launch` each process embeds a contiguous share of the records and writes it as a part;
the main process joins the parts in order, so the file is the same as one process writes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bioscan_hf.core.errors import MissingFileError
from bioscan_hf.core.outputs import check_output_file, write_atomically
from bioscan_hf.core.paths import user_path
from bioscan_hf.core.processes import process_state
from bioscan_hf.core.specs import ModelSpec
from bioscan_hf.data.images import ImageDecodeError, decode_image
from bioscan_hf.data.prepared import load_prepared
from bioscan_hf.data.sources import (
    SKIPPED_COLUMNS,
    InputError,
    Problems,
    is_prepared_dataset,
    iter_queries,
    skipped_path,
)
from bioscan_hf.embedding.base import Encoder, EncoderError
from bioscan_hf.embedding.registry import load_encoder
from bioscan_hf.embedding.settings import EmbedSettings

MODALITIES = ("dna", "image")
#: Schema metadata key of an embeddings file.
METADATA_KEY = b"bioscan_hf"


def encoder_fingerprint(encoder: Encoder) -> str:
    """The fingerprint of the model an encoder was loaded from (see `load_encoder`)."""
    return ModelSpec.parse(encoder.spec or encoder.name).fingerprint(encoder.pooling_option)


@dataclass
class StoredEmbeddings:
    """An embeddings file, read: vectors by (modality, id) and what wrote them."""

    path: Path
    info: dict
    ids: dict[str, dict[str, int]]
    vectors: dict[str, np.ndarray]

    @property
    def fingerprint(self) -> str:
        return self.info["fingerprint"]

    def check_model(self, encoder: Encoder) -> None:
        """Raise unless `encoder` is the model that wrote this file."""
        if encoder_fingerprint(encoder) != self.fingerprint:
            raise EncoderError(
                f"{self.path} holds embeddings of {self.info['model']} (pooling "
                f"{self.info.get('pooling') or 'default'}, fingerprint {self.fingerprint}), not of "
                f"{encoder.spec or encoder.name}: pass --model {self.info['model']}, or embed again with this "
                f"model (bioscan-hf embed … --model {encoder.spec or encoder.name})"
            )

    def fill(
        self, modality: str, ids: Sequence[str], compute: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectors [N, D] of `ids` and the mask of those found; `compute(positions)` embeds the rest
        (without it they stay zero and unmasked)."""
        known = self.ids.get(modality, {})
        rows = np.array([known.get(i, -1) for i in ids], dtype=np.int64)
        found = rows >= 0
        if modality not in self.vectors:
            if compute is None:
                raise EncoderError(f"{self.path} holds no {modality} embeddings")
            return compute(np.arange(len(ids))), found
        out = np.zeros((len(ids), self.vectors[modality].shape[1]), dtype=np.float32)
        out[found] = self.vectors[modality][rows[found]]
        missing = np.flatnonzero(~found)
        if len(missing) and compute is not None:
            out[missing] = compute(missing)
        return out, found


def stored_or_embedded(
    stored: StoredEmbeddings | None, modality: str, ids: Sequence[str], compute: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Vectors of records `ids`: read from `stored` where it holds them, `compute(positions)` for the rest
    (for all of them without a file)."""
    if stored is None:
        return compute(np.arange(len(ids)))
    return stored.fill(modality, ids, compute)[0]


def stored_or_embedded_images(
    encoder: Encoder,
    records: datasets.Dataset,
    stored: StoredEmbeddings | None,
    thumbnail: Callable | None = None,
) -> tuple[np.ndarray, np.ndarray, list[bytes | None]]:
    """`encoder.embed_image_records` of a split's records (columns processid, image), reading the vectors
    `stored` holds: those photos are decoded only for their thumbnails, when `thumbnail` is given."""
    if stored is None or "image" not in stored.vectors:
        return encoder.embed_image_records(records, thumbnail=thumbnail)
    vectors, found = stored.fill("image", records["processid"][:])
    ok, thumbnails = found.copy(), [None] * len(records)
    missing = np.flatnonzero(~found)
    if len(missing):
        rest, rest_ok, rest_thumbnails = encoder.embed_image_records(records.select(missing), thumbnail=thumbnail)
        vectors[missing], ok[missing] = rest, rest_ok
        for row, small in zip(missing, rest_thumbnails):
            thumbnails[row] = small
    if thumbnail is not None:
        rows = np.flatnonzero(found)
        photos = records.select(rows).select_columns(["processid", "image"])
        for row, record in zip(rows, photos.cast_column("image", datasets.Image(decode=False))):
            thumbnails[row] = thumbnail(decode_image(record["image"], f"record {record['processid']}"))
    return vectors, ok, thumbnails


def _is_embeddings_file(path: Path) -> bool:
    """Whether `path` is an embeddings file this toolkit wrote (its schema metadata says so)."""
    try:
        return METADATA_KEY in (pq.read_schema(path).metadata or {})
    except (OSError, pa.ArrowException):
        return False


def read_embeddings(path: str | os.PathLike) -> StoredEmbeddings:
    """An embeddings file written by `embed_to_parquet` (or `bioscan-hf embed`)."""
    path = user_path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such embeddings file (write one with bioscan-hf embed)")
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None or not {"id", "modality", "embedding"} <= set(table.column_names):
        raise EncoderError(f"{path} is not an embeddings file of bioscan-hf embed (no id/modality/embedding)")
    info = json.loads(raw)
    frame = table.select(["id", "modality"]).to_pandas()
    ids: dict[str, dict[str, int]] = {}
    vectors: dict[str, np.ndarray] = {}
    for modality in MODALITIES:
        rows = np.flatnonzero(frame["modality"].to_numpy() == modality)
        if not len(rows):
            continue
        column = table.column("embedding").take(pa.array(rows)).combine_chunks()
        flat = column.flatten() if hasattr(column, "flatten") else column.values
        vectors[modality] = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(rows), -1)
        ids[modality] = {name: n for n, name in enumerate(frame["id"].iloc[rows])}
    return StoredEmbeddings(path, info, ids, vectors)


@dataclass
class EmbedRun:
    """What `embed_to_parquet` wrote."""

    path: Path
    counts: dict[str, int]
    dim: dict[str, int]
    processes: int
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: False in the other processes of an `accelerate launch` (only the main one reports)
    main_process: bool = True

    def report(self) -> str:
        done = ", ".join(f"{n:,} {m} embeddings ({self.dim[m]}-d)" for m, n in self.counts.items())
        lines = [f"{done} written to {self.path} by {self.processes} process(es)"]
        if len(self.skipped):
            lines.append(f"{len(self.skipped)} record(s) left out, listed in {skipped_path(self.path)}")
        return "\n".join(lines)


def _write_skipped(rows: Iterable[Sequence], path: Path) -> None:
    pd.DataFrame(list(rows), columns=SKIPPED_COLUMNS).to_csv(path, sep="\t", index=False)


def _read_skipped(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


@dataclass
class _Records:
    """The records of one modality to embed: ids and either barcodes, photo paths or dataset rows."""

    modality: str
    ids: list[str]
    barcodes: list[str] | None = None
    photos: list[str] | None = None
    dataset: object | None = None  # a datasets.Dataset with an image column


def _read_source(
    source: str | os.PathLike, encoder: Encoder, split: str, config: str | None, modality: str | None, problems
) -> tuple[list[_Records], dict]:
    path = user_path(source)
    wanted = [modality] if modality and modality != "both" else None
    if is_prepared_dataset(path):
        modalities = wanted or (["dna", "image"] if modality == "both" else [_default_modality(encoder)])
        names = [s.strip() for s in split.split(",") if s.strip()]
        records = []
        for name in modalities:
            chosen = config or ("cropped_256" if name == "image" else "metadata")
            data = load_prepared(path, chosen)
            absent = [s for s in names if s not in data]
            if absent:
                raise EncoderError(f"{path} ({chosen}) has no split {absent[0]!r}; it has {', '.join(data)}")
            rows = datasets.concatenate_datasets([data[s] for s in names])
            if name == "image" and "image" not in rows.features:
                raise EncoderError(f"config {chosen!r} has no images: pass --config cropped_256 (or another image one)")
            ids = rows["processid"][:]
            if name == "dna":
                records.append(_Records("dna", ids, barcodes=rows["dna_barcode"][:]))
            else:
                records.append(_Records("image", ids, dataset=rows))
        return records, {"source": str(source), "split": split, "config": config}
    queries = list(iter_queries(path, split, problems))
    dna = [q for q in queries if q.sequence]
    photos = [q for q in queries if q.image]
    records = []
    if dna:
        records.append(_Records("dna", [q.id for q in dna], barcodes=[q.sequence for q in dna]))
    if photos:
        records.append(_Records("image", [q.id for q in photos], photos=[q.image for q in photos]))
    for part in records:
        if wanted and part.modality not in wanted:
            raise EncoderError(f"{path} holds {part.modality} records, not {modality}")
    return records, {"source": str(source)}


def _default_modality(encoder: Encoder) -> str:
    return "dna" if encoder.has_dna else "image"


def _embed_share(
    encoder: Encoder, part: _Records, share: np.ndarray, failed: list[tuple[str, str]]
) -> tuple[list[str], np.ndarray]:
    """(ids, vectors) of the records at positions `share`; undecodable photos go to `failed`."""
    if part.modality == "dna":
        return [part.ids[i] for i in share], encoder.embed_distinct([part.barcodes[i] for i in share])
    if part.dataset is not None:
        encoder.undecodable.clear()
        vectors, ok, _ = encoder.embed_image_records(part.dataset.select(share))
        failed += sorted(encoder.undecodable.items())
        return [part.ids[i] for i, good in zip(share, ok) if good], vectors[ok]
    images, kept = [], []
    for i in share:
        try:
            images.append(decode_image(part.photos[i], part.photos[i]))
            kept.append(part.ids[i])
        except ImageDecodeError as err:
            failed.append((part.ids[i], str(err)))
    if not images:
        return kept, np.zeros((0, encoder.image_dim), dtype=np.float32)
    return kept, encoder.embed_images(images)


def _table(ids: list[str], modality: str, vectors: np.ndarray) -> pa.Table:
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
    return pa.table(
        {
            "id": pa.array(ids, type=pa.string()),
            "modality": pa.array([modality] * len(ids), type=pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
        }
    )


def embed_to_parquet(
    source: str | os.PathLike,
    model: str | os.PathLike,
    out: str | os.PathLike,
    settings: EmbedSettings | None = None,
    **overrides,
) -> EmbedRun:
    """Embed the records of `source` with `model` and write `out` (.parquet); an existing `out` is replaced
    only when it is an embeddings file (or with `overwrite`), and only by a complete one.

    `source`: a prepared dataset (its `split`, or several: "train,key_unseen"; `config` default metadata
    for barcodes, cropped_256 for photos), FASTA, TSV/CSV (id + sequence), a BOLD TSV or a folder of
    photos. `modality`: dna, image or both (default: barcodes when the model has a DNA tower, else
    photos). Unusable records and photos that do not decode stop the run with their names, or with
    `skip_bad` are left out and listed in `<out stem>.skipped.tsv`. Under `accelerate launch` the
    processes share the records. `settings`: an `EmbedSettings` (its fields may also be given as keywords).
    """
    settings = EmbedSettings.given(settings, **overrides)
    split, config, modality = settings.split, settings.config, settings.modality
    out = user_path(out)
    if out.suffix != ".parquet":
        raise EncoderError(f"{out}: an embeddings file ends in .parquet")
    check_output_file(out, _is_embeddings_file(out), "embed", settings.overwrite)
    state = process_state()  # without GPUs: gloo processes on the CPU
    options = settings.encoder_options()
    if state.num_processes > 1 and "device" not in options and state.device.type != "cpu":
        options["device"] = str(state.device)
    encoder = load_encoder(model, **options)
    problems = Problems(skip=settings.skip_bad)
    records, origin = _read_source(source, encoder, split, config, modality, problems)
    if not records:
        raise InputError(f"{source}: no usable records to embed")
    parts = out.with_name(out.name + ".parts")
    rank, world = state.process_index, state.num_processes
    if state.is_main_process:
        shutil.rmtree(parts, ignore_errors=True)
        parts.mkdir(parents=True)
    state.wait_for_everyone()
    failed: list[tuple[str, str]] = []
    for part in records:
        share = np.array_split(np.arange(len(part.ids)), world)[rank]
        ids, vectors = _embed_share(encoder, part, share, failed)
        pq.write_table(_table(ids, part.modality, vectors), parts / f"{part.modality}-{rank:03d}.parquet")
    _write_skipped([(str(source), "", record, reason) for record, reason in failed], parts / f"failed-{rank:03d}.tsv")
    state.wait_for_everyone()
    undecodable = pd.concat([_read_skipped(p) for p in sorted(parts.glob("failed-*.tsv"))], ignore_index=True)
    skipped = pd.concat([problems.to_frame().astype(str), undecodable], ignore_index=True)
    dims = {p.modality: encoder.dna_dim if p.modality == "dna" else encoder.image_dim for p in records}
    if len(undecodable) and not settings.skip_bad:
        state.wait_for_everyone()
        if state.is_main_process:
            shutil.rmtree(parts, ignore_errors=True)
        first = undecodable.iloc[0]
        raise InputError(
            f"{len(undecodable)} photo(s) could not be decoded, first {first['record']}: {first['reason']}; "
            "replace them, or pass --skip-bad to leave them out (they are listed)"
        )
    shares = [pq.read_table(parts / f"{p.modality}-{r:03d}.parquet") for p in records for r in range(world)]
    counts = {p.modality: sum(t.num_rows for t in shares[n * world : (n + 1) * world]) for n, p in enumerate(records)}
    state.wait_for_everyone()
    if state.is_main_process:
        info = {
            "model": os.fspath(model),
            "fingerprint": encoder_fingerprint(encoder),
            "pooling": encoder.pooling_option,
            "encoder": type(encoder).__name__,
            **origin,
            "dims": dims,
        }
        table = pa.concat_tables(shares)
        table = table.replace_schema_metadata({METADATA_KEY: json.dumps(info)})
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(out, lambda path: pq.write_table(table, path))
        skipped_path(out).unlink(missing_ok=True)
        if len(skipped):
            _write_skipped(skipped.itertuples(index=False), skipped_path(out))
        shutil.rmtree(parts, ignore_errors=True)
    state.wait_for_everyone()
    return EmbedRun(out, counts, dims, world, skipped, state.is_main_process)
