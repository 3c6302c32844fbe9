"""The model-free references beside any encoder: 1-NN genus of k-mer profiles (kmer6) and of alignment,
closed-world alignment species (keys `train`, queries `test`: the paper's BLAST column of Table 4), and the
zero-shot clustering protocol's records (test + test_unseen) grouped into BIN-like clusters by
`bioscan_hf.clusters` (refined single linkage at 1.9% on the neighbour graph, no encoder, no number of
clusters given) with their AMI per rank beside the encoders' (Fig. 6 / Table A16)."""

from __future__ import annotations

import datasets
import numpy as np

from bioscan_hf.clusters import LINK_DISTANCE, record_clusters
from bioscan_hf.data.prepared import rank_values
from bioscan_hf.embedding.splits import SplitEmbeddings
from bioscan_hf.evaluation.clustering import clusters_ami
from bioscan_hf.evaluation.protocols.base import PROBE_SPLITS, Context, Protocol, nearest_key_scores
from bioscan_hf.evaluation.protocols.cluster import CLUSTER_RANKS, cluster_splits
from bioscan_hf.evaluation.protocols.knn import knn_task

ALIGNMENT_ROW = "alignment (edlib, ours)"
#: The clustering table's row of the BIN-like clusters.
CLUSTERS_ROW = f"BIN-like clusters (alignment, refined single linkage at {LINK_DISTANCE:.1%}, ours)"


def closed_world_task(
    data: datasets.DatasetDict, model: str | SplitEmbeddings, prefix: str = "closed", split: str = "test"
) -> dict[str, float]:
    """Closed-world 1-NN species accuracy: keys `train`, queries `test` (seen species; `val` with split="val")."""
    key_split, query_split = PROBE_SPLITS[split]["linear"]
    return nearest_key_scores(data, model, key_split, query_split, ("species",), prefix)


def bin_clusters_task(data: datasets.DatasetDict, prefix: str = "clusters") -> dict[str, float]:
    """AMI per rank of the BIN-like clusters of test + test_unseen's barcodes (`{prefix}_ami_<rank>`) and
    their number (`{prefix}_count`)."""
    names = cluster_splits(data)
    if not names:
        return {}
    records = datasets.concatenate_datasets([data[s] for s in names])
    clusters = record_clusters(records["dna_barcode"], progress=True)
    labels = {rank: rank_values(records, rank) for rank in CLUSTER_RANKS}
    scores = {f"{prefix}_ami_{rank}": value for rank, value in clusters_ami(clusters, labels).items()}
    return {**scores, f"{prefix}_count": int(len(np.unique(clusters)))}


def run(context: Context) -> dict[str, float]:
    data, split = context.data, context.settings.split
    kmer6 = context.embedder if context.model == "kmer6" else "kmer6"  # reuse the k-mer embeddings if scored
    return {
        **knn_task(data, kmer6, prefix="baseline_kmer6_knn", split=split),
        **knn_task(data, "align", prefix="baseline_align_knn", split=split),
        **closed_world_task(data, "align", prefix="baseline_align_closed", split=split),
        **bin_clusters_task(data, prefix="baseline_clusters"),
    }


def table4(m: dict[str, float]) -> dict[str | None, dict[str, float | None]]:
    cells: dict[str | None, dict[str, float | None]] = {}
    if "baseline_align_knn_genus_micro" in m:
        cells[ALIGNMENT_ROW] = {
            "1-NN genus": m["baseline_align_knn_genus_micro"],
            "fine-tuned": m.get("baseline_align_closed_species_micro"),
        }
    if "baseline_kmer6_knn_genus_micro" in m:
        cells["kmer6"] = {"1-NN genus": m["baseline_kmer6_knn_genus_micro"]}
    return cells


PROTOCOL = Protocol(
    "baselines",
    "1-NN genus of kmer6 and alignment; closed-world alignment species, test → train",
    run,
    table4=table4,
)
