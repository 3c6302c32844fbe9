"""Reference indexes for identification: embed key specimens, search them, vote on the taxonomy.

`build_index` embeds the keys (`train` + `key_unseen`) of a prepared dataset and writes one FAISS index
per key modality plus a Parquet table of key metadata, with any encoder of `bioscan_hf.embedding`. With
a DNA model (BarcodeBERT folder, `hf:…`, `kmerK`) the keys are barcodes; with an image model photos (with
thumbnails); with a CLIBD folder both, in one space, so a photo can be searched against reference
barcodes and the other way round. `Searcher` answers
queries by barcode, photo or processid with the nearest keys and a predicted taxonomy.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import faiss
import numpy as np
import pandas as pd

from bioscan_hf.data.barcodes import barcode_problem
from bioscan_hf.data.images import ImageDecodeError, decode_image, thumbnail_jpeg
from bioscan_hf.data.prepared import load_prepared, rank_values
from bioscan_hf.embedding import load_encoder
from bioscan_hf.embedding.base import normalize
from bioscan_hf.embedding.store import read_embeddings, stored_or_embedded, stored_or_embedded_images
from bioscan_hf.models.barcodebert.tokenization_barcodebert import normalize_barcode
from bioscan_hf.paths import user_path

KEY_SPLITS = ("train", "key_unseen")
PREDICTED_RANKS = ("order", "family", "subfamily", "genus", "species")
TABLE_COLUMNS = (
    "processid",
    "split",
    *PREDICTED_RANKS,
    "dna_bin",
    "country",
    "province_state",
    "coord-lat",
    "coord-lon",
    "dna_barcode",
)
MAX_QUERY_NUCLEOTIDES = 5_000
#: Where an index keeps a copy of the model that embeds queries (a folder model; `kmerK` needs none).
MODEL_FOLDER = "model"
#: encoder options recorded in index.json, so queries are embedded as the keys were
QUERY_ENCODER_OPTIONS = ("pooling", "trust_remote_code")


class QueryError(ValueError):
    """A query that cannot be answered (not DNA, empty, too long, not an image, unknown processid)."""


#: Inverted lists an approximate index searches per query: at 1M keys on 2 cores, p95 under 50 ms with
#: recall@10 0.97 (BENCHMARKS.md); more lists raise recall and latency (`bioscan-hf index --nprobe`).
DEFAULT_NPROBE = 192


def _flat_or_ivf(vectors: np.ndarray, approximate: bool, nprobe: int) -> faiss.Index:
    return ivf_index(vectors, nprobe) if approximate else faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))


def build_index(
    dataset_dir: str | os.PathLike,
    model: str,
    out: str | os.PathLike,
    config: str | None = None,
    splits: tuple[str, ...] = KEY_SPLITS,
    approximate: bool = False,
    nprobe: int = DEFAULT_NPROBE,
    encoder_options: dict | None = None,
    embeddings: str | os.PathLike | None = None,
) -> Path:
    """Embed the key splits and write `{modality}.faiss`, `keys.parquet` and `index.json` into `out`.

    `model`: a BarcodeBERT folder or `kmerK` (DNA keys, from the `metadata` config), or a CLIBD folder
    (DNA and image keys, from an image config, default `cropped_256`; keys whose image does not decode
    are left out of the image index and listed in index.json). A model folder is copied into
    `out/model`, so the index folder alone answers queries wherever it is moved or uploaded. Exact
    inner-product search by default; `approximate=True` builds inverted-file indexes for millions of
    keys, searching `nprobe` lists per query (more: higher recall, slower; BENCHMARKS.md). `embeddings`:
    a file of `bioscan-hf embed` by the same model; the keys it holds are read, not embedded again.
    """
    encoder_options = encoder_options or {}
    encoder = load_encoder(model, **encoder_options)
    config = config or ("cropped_256" if encoder.has_images else "metadata")
    data = load_prepared(dataset_dir, config)
    parts = [data[s] for s in splits if s in data and data[s].num_rows]
    if not parts:
        raise ValueError(f"{dataset_dir} has no records in {', '.join(splits)} to index")
    keys = datasets.concatenate_datasets(parts)
    table = {c: keys[c] for c in TABLE_COLUMNS if c not in PREDICTED_RANKS and c != "dna_bin"}
    for rank in (*PREDICTED_RANKS, "dna_bin"):
        table[rank] = rank_values(keys, rank)
    vectors: dict[str, np.ndarray] = {}
    rows: dict[str, np.ndarray] = {}
    recorded = {k: v for k, v in encoder_options.items() if k in QUERY_ENCODER_OPTIONS}
    info: dict = {"model": str(model), "encoder": type(encoder).__name__, "config": config, **recorded}
    stored = read_embeddings(embeddings) if embeddings else None
    if stored is not None:
        stored.check_model(encoder)
        info["embeddings"] = os.fspath(embeddings)
    if encoder.has_dna:
        barcodes = keys["dna_barcode"][:]
        vectors["dna"] = stored_or_embedded(
            stored, "dna", keys["processid"][:], lambda positions: encoder.embed_dna([barcodes[i] for i in positions])
        )
        rows["dna"] = np.arange(len(keys))
    if encoder.has_images:
        if "image" not in keys.features:
            raise ValueError(f"config {config!r} has no images; an index of {model} needs an image config")
        image, ok, thumbnails = stored_or_embedded_images(encoder, keys, stored, thumbnail=thumbnail_jpeg)
        vectors["image"], rows["image"] = image[ok], np.flatnonzero(ok)
        table["thumbnail"] = thumbnails
        info["undecodable_images"] = encoder.undecodable
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prefix = "hf:" if str(model).startswith("hf:") else ""
    folder = Path(os.path.expanduser(str(model)[len(prefix) :]))
    if folder.is_dir():  # the query encoder travels with the index (e.g. to a Space by push-space)
        shutil.copytree(folder, out / MODEL_FOLDER, dirs_exist_ok=True, ignore=shutil.ignore_patterns("checkpoint-*"))
        info.update(model=prefix + MODEL_FOLDER, source_model=str(model))
    for modality, matrix in vectors.items():
        matrix = normalize(matrix)
        index = _flat_or_ivf(matrix, approximate, nprobe)
        index.add_with_ids(matrix, rows[modality].astype(np.int64))
        faiss.write_index(index, str(out / f"{modality}.faiss"))
    columns = [*TABLE_COLUMNS, *(["thumbnail"] if encoder.has_images else [])]
    pd.DataFrame(table)[columns].to_parquet(out / "keys.parquet", index=False)
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


#: Above this many keys an approximate index stores 8-bit codes instead of float32 vectors (4× less memory:
#: the full 5.15M × 768 is 3.9 GB instead of 15.8 GB), at a recall cost measured in BENCHMARKS.md.
COMPRESS_ABOVE = 2_000_000


def ivf_list_count(n_total: int) -> int:
    """Coarse lists for an inverted-file index over `n_total` keys: 4·√n (FAISS's guideline range)."""
    return max(1, int(4 * np.sqrt(n_total)))


def trained_ivf(
    sample: np.ndarray, n_total: int, nprobe: int = DEFAULT_NPROBE, compress: bool | None = None
) -> faiss.Index:
    """An empty inverted-file index (inner product) for `n_total` L2-normalised vectors, its coarse
    centroids (4·√n lists) trained on `sample`; 8-bit scalar-quantized codes when `compress`
    (default: above `COMPRESS_ABOVE` keys)."""
    dim = sample.shape[1]
    n_lists = max(1, min(ivf_list_count(n_total), len(sample) // 39))  # k-means wants ≥ 39 points a list
    quantizer = faiss.IndexFlatIP(dim)
    if n_total > COMPRESS_ABOVE if compress is None else compress:
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, n_lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
    else:
        index = faiss.IndexIVFFlat(quantizer, dim, n_lists, faiss.METRIC_INNER_PRODUCT)
    index.train(sample)
    index.nprobe = min(nprobe, n_lists)
    return index


def ivf_index(vectors: np.ndarray, nprobe: int = DEFAULT_NPROBE, compress: bool | None = None) -> faiss.Index:
    """A trained inverted-file index for L2-normalised `vectors` (trained on a sample), not yet filled."""
    sample_size = min(len(vectors), 40 * ivf_list_count(len(vectors)))
    sample = np.random.default_rng(0).choice(len(vectors), sample_size, replace=False)
    return trained_ivf(vectors[np.sort(sample)], len(vectors), nprobe, compress)


def parse_dna_records(text: str) -> list[tuple[str, str]]:
    """(name, barcode) of every record of pasted or uploaded text: FASTA (each `>` header starts a
    record), or one raw sequence (name ""). Raises `QueryError` naming the record that is unusable."""
    records: list[tuple[str, list[str]]] = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line.startswith(">"):
            records.append((line[1:].strip(), []))
        elif line:
            if not records:
                records.append(("", []))
            records[-1][1].append(line)
    if not any(parts for _, parts in records):
        raise QueryError("the query is empty: paste a DNA barcode (raw or FASTA)")
    parsed = []
    for number, (name, parts) in enumerate(records, start=1):
        label = f"record {number} ({name})" if len(records) > 1 or name else "the query"
        sequence = "".join(parts)
        if len(sequence) > MAX_QUERY_NUCLEOTIDES:
            raise QueryError(
                f"{label} has {len(sequence):,} characters; a COI barcode is ~658 nt (limit {MAX_QUERY_NUCLEOTIDES:,})"
            )
        problem = barcode_problem(sequence)
        if problem:
            raise QueryError(f"{label}: {problem}; a barcode holds A, C, G, T, N (IUPAC codes and gaps are read)")
        parsed.append((name, normalize_barcode(sequence, strict=True)))
    return parsed


def parse_dna_query(text: str) -> str:
    """The barcode of a single-record query (raw or FASTA); the first record of several."""
    return parse_dna_records(text)[0][1]


@dataclass
class SearchResult:
    """Nearest keys (with similarity), the predicted taxonomy with the neighbours' agreement, and the
    neighbours' thumbnails (JPEG bytes; None where the index has none)."""

    neighbours: pd.DataFrame
    prediction: pd.DataFrame
    thumbnails: list[bytes | None] = field(default_factory=list)
    #: Something the user should know about the query (e.g. only the first of several records searched).
    note: str = ""


class Searcher:
    """Loads an index folder written by `build_index` and answers queries.

    `keys` chooses the key modality: "dna" (reference barcodes) or "image" (reference photos, CLIBD
    indexes only). Queries by photo need a CLIBD index.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        folder = user_path(folder)
        if not (folder / "index.json").is_file():
            raise FileNotFoundError(
                f"{folder} is not an index folder (no index.json); write one with `bioscan-hf index`"
            )
        self.folder = folder
        self.info = json.loads((folder / "index.json").read_text())
        self.modalities = self.info.get("modalities", ["dna"])
        self.indexes = {m: faiss.read_index(str(folder / f"{m}.faiss")) for m in self.modalities}
        if self.info["approximate"]:
            for index in self.indexes.values():
                faiss.extract_index_ivf(index).nprobe = self.info.get("nprobe", DEFAULT_NPROBE)
        self.keys = pd.read_parquet(folder / "keys.parquet")
        model = self.info["model"]
        prefix = "hf:" if model.startswith("hf:") else ""
        if (folder / model[len(prefix) :]).is_dir():  # the copy inside the index folder
            model = prefix + str(folder / model[len(prefix) :])
        options = {k: self.info[k] for k in QUERY_ENCODER_OPTIONS if k in self.info}
        self.encoder = load_encoder(model, **options)  # queries are embedded as the keys were
        self._by_processid = {pid: i for i, pid in enumerate(self.keys["processid"])}
        self._identifier = None

    def identify_dna(self, text: str, k: int = 10) -> SearchResult:
        """Identify a barcode (raw or FASTA text; the first of several records, as `search_dna`) against
        the key barcodes with the identification engine (`bioscan_hf.identify`): the `k` best hits by
        alignment with their identity, and a call per rank with its confidence and support."""
        from bioscan_hf.data.sources import REFERENCE_COLUMNS, Query
        from bioscan_hf.identify.engine import Identifier, Reference

        records = parse_dna_records(text)
        if self._identifier is None:  # the seed index is built once, on the first barcode query
            self._identifier = Identifier(Reference(self.keys[list(REFERENCE_COLUMNS)]))
        rows, hits = self._identifier.identify([Query(records[0][0] or "query", sequence=records[0][1])], top_k=k)
        call = rows[0]
        prediction = pd.DataFrame(
            [
                {
                    "rank": rank,
                    "prediction": call[rank] or "(no call)",
                    "confidence": call[f"{rank}_confidence"],
                    "support": call[f"{rank}_support"],
                }
                for rank in (*PREDICTED_RANKS, "dna_bin")
            ]
        )
        found = pd.DataFrame(hits, columns=["processid", "records", "identity"])
        rows_of_hits = [self._by_processid[pid] for pid in found["processid"]]
        neighbours = self.keys.iloc[rows_of_hits].reset_index(drop=True)
        thumbnails = list(neighbours["thumbnail"]) if "thumbnail" in neighbours else [None] * len(neighbours)
        shown = neighbours.drop(columns=[c for c in ("dna_barcode", "thumbnail") if c in neighbours])
        shown.insert(0, "identity", found["identity"].to_numpy())
        shown.insert(2, "same_barcode_records", found["records"].to_numpy())
        notes = [call["note"]] if call["note"] else []
        if len(records) > 1:
            notes.append(_first_record_note(records))
        return SearchResult(shown, prediction, thumbnails, "\n\n".join(notes))

    def _search(self, vector: np.ndarray, keys: str, k: int, exclude: str | None) -> SearchResult:
        if keys not in self.indexes:
            raise QueryError(f"this index has no {keys} keys; it has {', '.join(self.modalities)}")
        index = self.indexes[keys]
        k = max(1, min(int(k), index.ntotal))
        similarities, ids = index.search(normalize(vector), k + (1 if exclude else 0))
        found = [(int(i), float(s)) for i, s in zip(ids[0], similarities[0]) if i >= 0]
        found = [(i, s) for i, s in found if self.keys.processid[i] != exclude][:k]
        neighbours = self.keys.iloc[[i for i, _ in found]].copy()
        neighbours.insert(0, "similarity", [round(s, 4) for _, s in found])
        thumbnails = list(neighbours["thumbnail"]) if "thumbnail" in neighbours else [None] * len(neighbours)
        shown = neighbours.drop(columns=[c for c in ("dna_barcode", "thumbnail") if c in neighbours])
        return SearchResult(shown.reset_index(drop=True), vote(neighbours), thumbnails)

    def search_dna(self, text: str, k: int = 10, keys: str = "dna", exclude: str | None = None) -> SearchResult:
        """The `k` nearest keys of a barcode (raw or FASTA text); of several FASTA records, the first is
        searched and `note` says so (search each with `search_dna` per record)."""
        if not self.encoder.has_dna:
            raise QueryError(f"this index holds photo keys from {self.info['model']}, which does not embed barcodes")
        records = parse_dna_records(text)
        sequence = records[0][1]
        vector = self.encoder.embed_dna([sequence], progress=False)
        result = self._search(vector, keys, k, exclude)
        if len(records) > 1:
            result.note = _first_record_note(records)
        return result

    def search_image(self, image: bytes | str | os.PathLike, k: int = 10, keys: str = "image") -> SearchResult:
        """The `k` nearest keys of a photo (bytes or a file path); needs an index of an image encoder (CLIBD
        for photo → barcode keys)."""
        if not self.encoder.has_images:
            raise QueryError(
                f"this index holds DNA keys from {self.info['model']}; photo queries need an index built with a "
                "CLIBD model (bioscan-hf index --model CLIBD_FOLDER)"
            )
        try:
            decoded = decode_image(image, "the uploaded file")
        except ImageDecodeError as err:
            raise QueryError(str(err)) from None
        return self._search(self.encoder.embed_images([decoded], progress=False), keys, k, None)

    def search_processid(self, processid: str, k: int = 10, keys: str = "dna") -> SearchResult:
        """The nearest other keys of a key specimen, found by its processid (queried by its barcode)."""
        processid = (processid or "").strip()
        if processid not in self._by_processid:
            raise QueryError(f"unknown processid {processid!r}: it is not among the {len(self.keys):,} indexed keys")
        barcode = self.keys.dna_barcode[self._by_processid[processid]]
        return self.search_dna(barcode, k, keys, exclude=processid)


def _first_record_note(records: list[tuple[str, str]]) -> str:
    return (
        f"{len(records)} FASTA records were read; only the first ({records[0][0] or 'unnamed'}) was searched. "
        "Paste one record at a time to search the others (or run bioscan-hf identify on the file)."
    )


def vote(neighbours: pd.DataFrame) -> pd.DataFrame:
    """Per rank: the most common label among the neighbours and the share that agrees with it."""
    rows = []
    for rank in PREDICTED_RANKS:
        values = neighbours[rank].dropna()
        if values.empty:
            rows.append({"rank": rank, "prediction": "(no labelled neighbour)", "agreement": 0.0})
            continue
        counts = values.value_counts()
        rows.append(
            {"rank": rank, "prediction": counts.index[0], "agreement": round(counts.iloc[0] / len(neighbours), 3)}
        )
    return pd.DataFrame(rows)
