"""The 1-NN protocol (SPEC §3): keys `train`, queries `test_unseen` (`val_unseen` with split "val"), each
query labelled as its nearest key by cosine at order, family and genus; the headline is the genus."""

from __future__ import annotations

import datasets

from bioscan_hf.embedding.splits import SplitEmbeddings
from bioscan_hf.evaluation.protocols.base import PROBE_SPLITS, Context, Protocol, nearest_key_scores

KNN_RANKS = ("order", "family", "genus")


def knn_task(
    data: datasets.DatasetDict, model: str | SplitEmbeddings, prefix: str = "knn", split: str = "test"
) -> dict[str, float]:
    """1-NN at order, family, genus. Each distinct barcode is embedded and searched once for all ranks, and
    its predictions expanded back to its records: the same predictions as searching every record per rank."""
    key_split, query_split = PROBE_SPLITS[split]["knn"]
    return nearest_key_scores(data, model, key_split, query_split, KNN_RANKS, prefix)


def run(context: Context) -> dict[str, float]:
    return knn_task(context.data, context.embedder, split=context.settings.split)


PROTOCOL = Protocol(
    "knn",
    "1-NN genus etc.: keys train, queries test_unseen",
    run,
    table4=lambda m: {None: {"1-NN genus": m["knn_genus_micro"]}} if "knn_genus_micro" in m else {},
)
