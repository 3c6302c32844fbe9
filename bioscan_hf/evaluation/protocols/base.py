"""What every protocol shares: the `Protocol` entry of the registry, the `Context` a run reads, and the
helpers for splits, encoders and nearest-key scoring."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import datasets
import numpy as np

from bioscan_hf.core.barcodes import barcode_key
from bioscan_hf.core.errors import EvaluationError
from bioscan_hf.core.metrics import micro_macro_accuracy
from bioscan_hf.data.prepared import rank_values
from bioscan_hf.embedding import EncoderError, load_encoder
from bioscan_hf.embedding.splits import SplitEmbeddings
from bioscan_hf.embedding.store import read_embeddings
from bioscan_hf.evaluation.baselines import alignment_nearest
from bioscan_hf.evaluation.nearest import first_of_each, knn_probe_ranks
from bioscan_hf.evaluation.settings import EvaluateSettings

#: Which splits a probe reads: keys/train and queries/test, for the final scores or for model selection.
PROBE_SPLITS = {
    "test": {"knn": ("train", "test_unseen"), "linear": ("train", "test")},
    "val": {"knn": ("train", "val_unseen"), "linear": ("train", "val")},
}


@dataclass
class Context:
    """What a protocol reads: the prepared dataset (`data`, its `metadata` config), the model (its spec and
    its split embeddings, or "align"), and the evaluation's settings (`EvaluateSettings`). `plots` collects
    material for the figures `evaluate` writes."""

    dataset_dir: str | os.PathLike
    data: datasets.DatasetDict
    model: str
    embedder: SplitEmbeddings | str
    settings: EvaluateSettings = field(default_factory=EvaluateSettings)
    plots: dict = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        """A setting read as the context's own (`context.split` is `context.settings.split`)."""
        if name != "settings" and name in {f.name for f in fields(EvaluateSettings)}:
            return getattr(self.settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


@dataclass(frozen=True)
class Protocol:
    """A registered protocol: its name (`bioscan-hf evaluate NAME`), a one-line summary, its run (metrics,
    fractions in 0..1) and the cells it adds to Table 4 (row → column → value; row None is the run's own
    model), read by `bioscan-hf tables`."""

    name: str
    summary: str
    run: Callable[[Context], dict[str, float]]
    table4: Callable[[dict[str, float]], dict[str | None, dict[str, float | None]]] | None = None


def split_of(data: datasets.DatasetDict, name: str) -> datasets.Dataset:
    """A split that exists and holds records, or an error naming the splits there are."""
    if name not in data or data[name].num_rows == 0:
        raise EvaluationError(f"the dataset has no {name!r} records; it has {', '.join(data)}")
    return data[name]


def embedder_of(
    model: str | SplitEmbeddings, embeddings: str | os.PathLike | None = None, **encoder_options
) -> SplitEmbeddings:
    """Split embeddings of a model given as a spec string (see `bioscan_hf.embedding`) or already loaded;
    `embeddings`: a file of `bioscan-hf embed` by the same model, read instead of embedding its records."""
    if isinstance(model, SplitEmbeddings):
        return model
    try:
        stored = read_embeddings(embeddings) if embeddings else None
        return SplitEmbeddings(load_encoder(model, **encoder_options), stored)
    except EncoderError as err:
        raise EvaluationError(str(err)) from None


def one_per_barcode(data: datasets.DatasetDict) -> datasets.DatasetDict:
    """Each split reduced to its first record of every distinct barcode (the paper's Fig. A11 protocol)."""

    def first(split: datasets.Dataset) -> datasets.Dataset:
        rows, _ = first_of_each([barcode_key(b) for b in split["dna_barcode"][:]])
        return split.select(rows)

    return datasets.DatasetDict({name: first(split) for name, split in data.items()})


def nearest_key_scores(
    data: datasets.DatasetDict,
    model: str | SplitEmbeddings,
    key_split: str,
    query_split: str,
    ranks: Sequence[str],
    prefix: str,
) -> dict[str, float]:
    """Micro/macro accuracy per rank of each query labelled as its nearest key (alignment or embeddings)."""
    keys, queries = split_of(data, key_split), split_of(data, query_split)
    metrics: dict[str, float] = {}
    if model == "align":
        best, _ = alignment_nearest(keys["dna_barcode"][:], queries["dna_barcode"][:])
        for rank in ranks:
            key_labels, query_labels = np.array(rank_values(keys, rank), object), rank_values(queries, rank)
            labelled = [i for i, v in enumerate(query_labels) if v is not None]
            micro, macro = micro_macro_accuracy(
                key_labels[best[labelled]].astype(str), np.array(query_labels, object)[labelled].astype(str)
            )
            metrics[f"{prefix}_{rank}_micro"], metrics[f"{prefix}_{rank}_macro"] = micro, macro
        return metrics
    embed = embedder_of(model)
    results = knn_probe_ranks(  # one search over distinct barcodes serves every rank
        embed.dna(data, key_split),
        {rank: rank_values(keys, rank) for rank in ranks},
        embed.dna(data, query_split),
        {rank: rank_values(queries, rank) for rank in ranks},
        key_ids=embed.barcode_ids(data, key_split),
        query_ids=embed.barcode_ids(data, query_split),
    )
    for rank, result in results.items():
        metrics[f"{prefix}_{rank}_micro"], metrics[f"{prefix}_{rank}_macro"] = result["micro"], result["macro"]
        if rank == "genus":
            metrics[f"{prefix}_genus_queries_of_absent_classes"] = result["queries_of_absent_classes"]
    return metrics
