"""Reference indexes for identification: embed key specimens, search them, vote on the taxonomy.

`build_dna_index` embeds the keys (`train` + `key_unseen`) of a prepared dataset with a DNA model
(BarcodeBERT folder or `kmerK`) and writes a FAISS index plus a Parquet table of key metadata.
`Searcher` answers queries by barcode or processid with the nearest keys and a predicted taxonomy.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import datasets
import faiss
import numpy as np
import pandas as pd

from bioscan_hf.data.publish import load_prepared
from bioscan_hf.evaluation.dna import DnaEmbedder, rank_values
from bioscan_hf.evaluation.knn import normalize
from bioscan_hf.models.barcodebert.tokenization_barcodebert import normalize_barcode

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


class QueryError(ValueError):
    """A query that cannot be answered (not DNA, empty, too long, unknown processid)."""


def build_dna_index(
    dataset_dir: str | os.PathLike,
    model: str,
    out: str | os.PathLike,
    splits: tuple[str, ...] = KEY_SPLITS,
    approximate: bool = False,
) -> Path:
    """Embed the key splits and write `dna.faiss`, `keys.parquet` and `index.json` into `out`.

    Exact inner-product search by default; `approximate=True` builds an inverted-file index for millions of
    keys (measured in BENCHMARKS.md: better recall per millisecond than HNSW on these embeddings).
    """
    data = load_prepared(dataset_dir)
    parts = [data[s] for s in splits if s in data and data[s].num_rows]
    if not parts:
        raise ValueError(f"{dataset_dir} has no records in {', '.join(splits)} to index")
    keys = datasets.concatenate_datasets(parts)
    vectors = normalize(DnaEmbedder(model)(keys["dna_barcode"]))
    index = ivf_index(vectors) if approximate else faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(out / "dna.faiss"))
    table = {c: keys[c] for c in TABLE_COLUMNS if c not in PREDICTED_RANKS and c != "dna_bin"}
    for rank in (*PREDICTED_RANKS, "dna_bin"):
        table[rank] = rank_values(keys, rank)
    pd.DataFrame(table)[list(TABLE_COLUMNS)].to_parquet(out / "keys.parquet", index=False)
    info = {
        "model": str(model),
        "modality": "dna",
        "keys": len(keys),
        "dim": int(vectors.shape[1]),
        "approximate": approximate,
        "splits": list(splits),
    }
    if approximate:
        info["nprobe"] = faiss.extract_index_ivf(index).nprobe
    (out / "index.json").write_text(json.dumps(info, indent=2))
    return out


def ivf_index(vectors: np.ndarray, nprobe: int = 256) -> faiss.IndexIVFFlat:
    """A trained IVF index (4·√n lists, inner product, nprobe 256) for L2-normalised `vectors`, not yet filled."""
    n_lists = max(1, min(int(4 * np.sqrt(len(vectors))), len(vectors) // 39))
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], n_lists, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(len(vectors), min(len(vectors), 40 * n_lists), replace=False)
    index.train(vectors[sample])
    index.nprobe = min(nprobe, n_lists)
    return index


def parse_dna_query(text: str) -> str:
    """A barcode from pasted text or FASTA (header lines dropped); raises `QueryError` when unusable."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    sequence = "".join(line for line in lines if not line.startswith(">"))
    if not sequence:
        raise QueryError("the query is empty: paste a DNA barcode (raw or FASTA)")
    if len(sequence) > MAX_QUERY_NUCLEOTIDES:
        raise QueryError(
            f"the query has {len(sequence):,} characters; a COI barcode is ~658 nt (limit {MAX_QUERY_NUCLEOTIDES:,})"
        )
    try:
        return normalize_barcode(sequence, strict=True)
    except ValueError as err:
        raise QueryError(str(err).replace("sequence 0: ", "")) from None


@dataclass
class SearchResult:
    """Nearest keys (with similarity) and the predicted taxonomy with the neighbours' agreement."""

    neighbours: pd.DataFrame
    prediction: pd.DataFrame


class Searcher:
    """Loads an index folder written by `build_dna_index` and answers queries."""

    def __init__(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)
        self.info = json.loads((folder / "index.json").read_text())
        self.index = faiss.read_index(str(folder / "dna.faiss"))
        if self.info["approximate"]:
            faiss.extract_index_ivf(self.index).nprobe = self.info.get("nprobe", 256)
        self.keys = pd.read_parquet(folder / "keys.parquet")
        self.embed = DnaEmbedder(self.info["model"])
        self._by_processid = {pid: i for i, pid in enumerate(self.keys["processid"])}

    def search_dna(self, text: str, k: int = 10, exclude: str | None = None) -> SearchResult:
        """The `k` nearest keys of a barcode (raw or FASTA text)."""
        sequence = parse_dna_query(text)
        vector = normalize(self.embed([sequence]))
        k = max(1, min(int(k), len(self.keys)))
        similarities, indices = self.index.search(vector, k + (1 if exclude else 0))
        rows = [(i, s) for i, s in zip(indices[0], similarities[0]) if i >= 0 and self.keys.processid[i] != exclude]
        rows = rows[:k]
        neighbours = self.keys.iloc[[i for i, _ in rows]].copy()
        neighbours.insert(0, "similarity", [round(float(s), 4) for _, s in rows])
        return SearchResult(neighbours.drop(columns=["dna_barcode"]).reset_index(drop=True), vote(neighbours))

    def search_processid(self, processid: str, k: int = 10) -> SearchResult:
        """The nearest other keys of a key specimen, found by its processid."""
        processid = (processid or "").strip()
        if processid not in self._by_processid:
            raise QueryError(f"unknown processid {processid!r}: it is not among the {len(self.keys):,} indexed keys")
        barcode = self.keys.dna_barcode[self._by_processid[processid]]
        return self.search_dna(barcode, k, exclude=processid)


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
