"""`Searcher`: answers queries by barcode, photo or processid against an index folder of `build_index`
with the nearest keys and a predicted taxonomy; barcodes among barcode keys go through the identify engine."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import faiss
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from bioscan_hf.core.errors import MissingFileError, UserError
from bioscan_hf.core.paths import user_path
from bioscan_hf.core.specs import ModelSpec
from bioscan_hf.core.vectors import DEFAULT_NPROBE, normalize, set_nprobe
from bioscan_hf.data.images import ImageDecodeError, decode_image
from bioscan_hf.data.schema import CALL_RANKS, LINEAGE_RANKS
from bioscan_hf.data.selection import with_large_strings
from bioscan_hf.data.sources import Query
from bioscan_hf.embedding import load_encoder
from bioscan_hf.search.calibration import Calibration
from bioscan_hf.search.engine import Identifier
from bioscan_hf.search.index import QUERY_ENCODER_OPTIONS
from bioscan_hf.search.queries import QueryError, parse_dna_records
from bioscan_hf.search.references import REFERENCE_COLUMNS, Reference

T = TypeVar("T")
#: What to do about a damaged index folder.
#: The columns of a barcode's hits the Space shows (as identify's hits file), before the key's metadata.
HIT_COLUMNS = ("pident", "records", "length", "mismatch", "gapopen", "qcovs", "bitscore")
#: A calibration of the index's references, used for barcode calls when present (else the BOLD default).
CALIBRATION_FILE = "calibration.skops"
REBUILD = "rebuild the index folder with `bioscan-hf index --dataset DATASET --model MODEL --out FOLDER`"


class IndexFolderError(UserError, OSError):
    """An index folder with a file missing or damaged; the message names the file and how to rebuild."""


def _read(path: Path, read: Callable[[Path], T]) -> T:
    """`read(path)`, or an `IndexFolderError` naming the file when it is missing or damaged."""
    if not path.is_file():
        raise IndexFolderError(f"{path} is missing; {REBUILD}")
    try:
        return read(path)
    except Exception as err:  # faiss, pyarrow and json each raise their own kinds on a damaged file
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise IndexFolderError(f"{path} is damaged ({reason}); {REBUILD}") from err


@dataclass
class SearchResult:
    """Nearest keys (with similarity), the predicted taxonomy with the neighbours' agreement, and the
    neighbours' thumbnails (JPEG bytes; None where the index has none)."""

    neighbours: pd.DataFrame
    prediction: pd.DataFrame
    thumbnails: list[bytes | None] = field(default_factory=list)
    #: Something the user should know about the query (e.g. only the first of several records searched).
    note: str = ""


def read_key_table(path: Path) -> pd.DataFrame:
    """An index's keys.parquet, each text column one Arrow array: taking a query's neighbours from a column
    in many chunks joins every chunk first (a quarter of a second a query at 5.15M keys, whose barcodes are
    3.6 GB of text)."""
    return with_large_strings(pq.read_table(path)).combine_chunks().to_pandas()


class Searcher:
    """Loads an index folder written by `build_index` and answers queries.

    `keys` chooses the key modality: "dna" (reference barcodes) or "image" (reference photos, CLIBD
    indexes only). Queries by photo need a CLIBD index.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        folder = user_path(folder)
        if not (folder / "index.json").is_file():
            raise MissingFileError(
                f"{folder} is not an index folder (no index.json); write one with `bioscan-hf index`"
            )
        self.folder = folder
        self.info = _read(folder / "index.json", lambda path: json.loads(path.read_text()))
        self.modalities = self.info.get("modalities", ["dna"])
        self.indexes = {
            m: _read(folder / f"{m}.faiss", lambda path: faiss.read_index(str(path))) for m in self.modalities
        }
        if self.info.get("approximate"):
            for index in self.indexes.values():
                set_nprobe(index, self.info.get("nprobe", DEFAULT_NPROBE))
        self.keys = _read(folder / "keys.parquet", read_key_table)
        if any(index.ntotal > len(self.keys) for index in self.indexes.values()):
            raise IndexFolderError(f"{folder / 'keys.parquet'} lists fewer keys than the FAISS indexes hold; {REBUILD}")
        model = ModelSpec.parse(self.info["model"])
        if model.prefix in ("", "hf") and (folder / model.location).is_dir():  # the copy inside the index folder
            model = model.with_location(folder / model.location)
        options = {k: self.info[k] for k in QUERY_ENCODER_OPTIONS if k in self.info}
        self.encoder = load_encoder(model, **options)  # queries are embedded as the keys were
        self._by_processid = {pid: i for i, pid in enumerate(self.keys["processid"])}
        self._identifier = None

    def identify_dna(self, text: str, k: int = 10) -> SearchResult:
        """Identify a barcode (raw or FASTA text; the first of several records, as `search_dna`) against
        the key barcodes with the identification engine (`bioscan_hf.search.engine`): the `k` best hits by
        alignment with their identity, and a call per rank with its confidence and support."""
        records = parse_dna_records(text)
        if self._identifier is None:  # the seed index is built once, on the first barcode query
            calibration = self.folder / CALIBRATION_FILE  # `bioscan-hf calibrate FOLDER --out FOLDER/...`
            self._identifier = Identifier(
                Reference(self.keys[list(REFERENCE_COLUMNS)]),
                calibration=Calibration.load(calibration) if calibration.is_file() else None,
            )
        rows, hits = self._identifier.identify([Query(records[0][0] or "query", sequence=records[0][1])], top_k=k)
        call = rows[0]
        prediction = pd.DataFrame(
            [
                {
                    "rank": rank,
                    "prediction": call[rank] or "(no call)",
                    "candidate": call[f"_candidate_{rank}"] or "–",
                    "confidence": call[f"{rank}_confidence"],
                    "support": call[f"{rank}_support"],
                }
                for rank in CALL_RANKS
            ]
        )
        found = pd.DataFrame(hits, columns=["sseqid", *HIT_COLUMNS])
        rows_of_hits = [self._by_processid[pid] for pid in found["sseqid"]]
        neighbours = self.keys.iloc[rows_of_hits].reset_index(drop=True)
        thumbnails = list(neighbours["thumbnail"]) if "thumbnail" in neighbours else [None] * len(neighbours)
        shown = neighbours.drop(columns=[c for c in ("dna_barcode", "thumbnail") if c in neighbours])
        shown.insert(0, "pident", found["pident"].to_numpy())
        after = shown.columns.get_loc("processid") + 1
        for position, column in enumerate(HIT_COLUMNS[1:]):
            name = "same_barcode_records" if column == "records" else column
            shown.insert(after + position, name, found[column].to_numpy())
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
    for rank in LINEAGE_RANKS:
        values = neighbours[rank].dropna()
        if values.empty:
            rows.append({"rank": rank, "prediction": "(no labelled neighbour)", "agreement": 0.0})
            continue
        counts = values.value_counts()
        rows.append(
            {"rank": rank, "prediction": counts.index[0], "agreement": round(counts.iloc[0] / len(neighbours), 3)}
        )
    return pd.DataFrame(rows)
