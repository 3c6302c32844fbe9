"""The zero-shot clustering protocol (BIOSCAN-5M §5): test + test_unseen embedded, UMAP to 50 dimensions,
Ward, AMI per rank (`bioscan_hf.evaluation.clustering` for the pipeline). Image models cluster the photos
of an image config; `cluster_also` models are z-scored and concatenated (Table A16: image × DNA)."""

from __future__ import annotations

from collections.abc import Sequence

import datasets
import numpy as np

from bioscan_hf.core.errors import EvaluationError
from bioscan_hf.data.prepared import load_prepared, rank_values
from bioscan_hf.embedding import EncoderError
from bioscan_hf.embedding.splits import SplitEmbeddings
from bioscan_hf.evaluation.clustering import combine, reduce_umap, zero_shot_clustering
from bioscan_hf.evaluation.protocols.base import Context, Protocol, embedder_of, one_per_barcode

CLUSTER_RANKS = ("class", "order", "family", "subfamily", "genus", "species", "dna_bin")
#: The splits the protocol clusters together.
CLUSTER_SPLITS = ("test", "test_unseen")


def cluster_splits(data: datasets.DatasetDict) -> list[str]:
    """The protocol's splits `data` holds records of (every clustering of the protocol reads these)."""
    return [s for s in CLUSTER_SPLITS if s in data and data[s].num_rows]


def cluster_task(
    data: datasets.DatasetDict,
    model: str | SplitEmbeddings,
    seed: int = 0,
    also: Sequence[str | SplitEmbeddings] = (),
    modality: str | None = None,
) -> tuple[dict[str, float], dict]:
    """Zero-shot clustering of test + test_unseen; returns (AMI per rank, material for the plots).

    Each model embeds its default modality (barcodes when it has a DNA tower, else images; `modality`
    overrides it for `model`). With `also`, the embeddings of those models are z-scored per dimension
    and concatenated with `model`'s. Images come from `data` (an image config); records whose image does
    not decode are left out and counted in `cluster_undecodable_images`.
    """
    names = cluster_splits(data)
    if not names:
        raise EvaluationError("the dataset has no test or test_unseen records to cluster")
    records = datasets.concatenate_datasets([data[s] for s in names])
    embedders = [embedder_of(model), *(embedder_of(other) for other in also)]
    modalities = [modality or embedders[0].default_modality(), *(e.default_modality() for e in embedders[1:])]
    keep = np.ones(len(records), dtype=bool)
    per_model = []
    for embedder, kind in zip(embedders, modalities):
        try:
            if kind == "image":
                parts = [embedder.images(data, s) for s in names]
                per_model.append(np.concatenate([v for v, _ in parts]))
                keep &= np.concatenate([ok for _, ok in parts])
            else:
                per_model.append(np.concatenate([embedder.dna(data, s) for s in names]))
        except EncoderError as err:
            raise EvaluationError(str(err)) from None
    if not keep.any():
        raise EvaluationError("no image of test or test_unseen could be decoded; nothing to cluster")
    per_model = [vectors[keep] for vectors in per_model]
    vectors = combine(per_model) if also else per_model[0]
    labels = {rank: list(np.array(rank_values(records, rank), dtype=object)[keep]) for rank in CLUSTER_RANKS}
    scores, _ = zero_shot_clustering(vectors, labels, seed=seed)
    plane = reduce_umap(vectors, seed=seed, n_components=2)
    metrics = {f"cluster_ami_{rank}": value for rank, value in scores.items()}
    if "image" in modalities:
        metrics["cluster_undecodable_images"] = int((~keep).sum())
    return metrics, {"plane": plane, "order": labels["order"]}


def run(context: Context) -> dict[str, float]:
    settings = context.settings
    shared = {k: v for k, v in settings.encoder_options().items() if k != "pooling"}  # pooling is model-specific
    also = [embedder_of(other, **shared) for other in settings.concat_model]
    embedder = embedder_of(context.embedder)
    kinds = [settings.modality or embedder.default_modality(), *(e.default_modality() for e in also)]
    data = context.data
    if "image" in kinds:
        data = load_prepared(context.dataset_dir, settings.config)
        data = one_per_barcode(data) if settings.one_sample_per_barcode else data
    scores, context.plots = cluster_task(data, embedder, settings.seed, also=also, modality=settings.modality)
    return scores


PROTOCOL = Protocol("cluster", "UMAP 50 → Ward → AMI per rank on test + test_unseen", run)
