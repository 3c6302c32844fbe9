"""Score a DNA encoder — any spec of `bioscan_hf.embedding` (a BarcodeBERT folder, `hf:PATH_OR_ID`, the
k-mer profile `kmer6`) — or alignment (`align`) on a prepared dataset with the paper's protocols, and
write `metrics.json`, a markdown table and plots.

Protocols (SPEC §3): 1-NN (keys `train`, queries `test_unseen`, nearest key by cosine; the headline is
the genus: `knn_genus_micro` / `knn_genus_macro`); linear probe (train → test, species); zero-shot
clustering (test + test_unseen → UMAP 50 → Ward → AMI per rank). Metric values are fractions in 0..1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import datasets
import numpy as np

from bioscan_hf.core.errors import EvaluationError
from bioscan_hf.core.formatting import markdown_table
from bioscan_hf.core.metrics import micro_macro_accuracy
from bioscan_hf.data.prepared import data_origin, load_prepared, rank_values
from bioscan_hf.embedding import EncoderError, load_encoder
from bioscan_hf.embedding.splits import SplitEmbeddings
from bioscan_hf.embedding.store import read_embeddings
from bioscan_hf.evaluation.baselines import alignment_nearest
from bioscan_hf.evaluation.clustering import combine, reduce_umap, zero_shot_clustering
from bioscan_hf.evaluation.knn import first_of_each, knn_probe_ranks
from bioscan_hf.evaluation.probes import linear_probe

TASKS = ("knn", "linear", "cluster")
KNN_RANKS = ("order", "family", "genus")
CLUSTER_RANKS = ("class", "order", "family", "subfamily", "genus", "species", "dna_bin")


def _split(data: datasets.DatasetDict, name: str) -> datasets.Dataset:
    if name not in data or data[name].num_rows == 0:
        raise EvaluationError(f"the dataset has no {name!r} records; it has {', '.join(data)}")
    return data[name]


def _embedder(
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


#: Which splits a probe reads: keys/train and queries/test, for the final scores or for model selection.
PROBE_SPLITS = {
    "test": {"knn": ("train", "test_unseen"), "linear": ("train", "test")},
    "val": {"knn": ("train", "val_unseen"), "linear": ("train", "val")},
}


def _nearest_key_scores(
    data: datasets.DatasetDict,
    model: str | SplitEmbeddings,
    key_split: str,
    query_split: str,
    ranks: Sequence[str],
    prefix: str,
) -> dict[str, float]:
    """Micro/macro accuracy per rank of each query labelled as its nearest key (alignment or embeddings)."""
    keys, queries = _split(data, key_split), _split(data, query_split)
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
    embed = _embedder(model)
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


def knn_task(
    data: datasets.DatasetDict, model: str | SplitEmbeddings, prefix: str = "knn", split: str = "test"
) -> dict[str, float]:
    """1-NN: keys `train`, queries `test_unseen` (`val_unseen` with split="val"), at order, family, genus.

    Each distinct barcode is embedded and searched once for all ranks, and its predictions expanded
    back to its records: the same predictions as searching every record at each rank.
    """
    key_split, query_split = PROBE_SPLITS[split]["knn"]
    return _nearest_key_scores(data, model, key_split, query_split, KNN_RANKS, prefix)


def closed_world_task(
    data: datasets.DatasetDict, model: str | SplitEmbeddings, prefix: str = "closed", split: str = "test"
) -> dict[str, float]:
    """Closed-world 1-NN species accuracy: keys `train`, queries `test` (seen species; `val` with
    split="val"). With `align`, the paper's BLAST column of Table 4."""
    key_split, query_split = PROBE_SPLITS[split]["linear"]
    return _nearest_key_scores(data, model, key_split, query_split, ("species",), prefix)


def linear_task(
    data: datasets.DatasetDict, model: str | SplitEmbeddings, split: str = "test", method: str = "lbfgs"
) -> dict[str, float]:
    """Linear probe (`method`: lbfgs or the paper's sgd) on frozen `train` embeddings, scored on `test`
    (or `val`) species."""
    train_split, test_split = PROBE_SPLITS[split]["linear"]
    train, test = _split(data, train_split), _split(data, test_split)
    embed = _embedder(model)
    result = linear_probe(
        embed.dna(data, train_split),
        rank_values(train, "species"),
        embed.dna(data, test_split),
        rank_values(test, "species"),
        method=method,
    )
    return {"linear_species_micro": result["micro"], "linear_species_macro": result["macro"]}


def one_per_barcode(data: datasets.DatasetDict) -> datasets.DatasetDict:
    """Each split reduced to its first record of every distinct barcode (the paper's Fig. A11 protocol)."""
    from bioscan_hf.core.barcodes import barcode_key

    def first(split: datasets.Dataset) -> datasets.Dataset:
        rows, _ = first_of_each([barcode_key(b) for b in split["dna_barcode"][:]])
        return split.select(rows)

    return datasets.DatasetDict({name: first(split) for name, split in data.items()})


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
    and concatenated with `model`'s (Table A16: image × DNA). Images come from `data` (an image config);
    records whose image does not decode are left out and counted in `cluster_undecodable_images`.
    """
    names = [s for s in ("test", "test_unseen") if s in data and data[s].num_rows]
    if not names:
        raise EvaluationError("the dataset has no test or test_unseen records to cluster")
    records = datasets.concatenate_datasets([data[s] for s in names])
    embedders = [_embedder(model), *(_embedder(other) for other in also)]
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


def evaluate_dna(
    dataset_dir: str | os.PathLike,
    model: str,
    out: str | os.PathLike,
    tasks: Sequence[str] = TASKS,
    seed: int = 0,
    baselines: bool = False,
    cluster_also: Sequence[str] = (),
    encoder_options: dict | None = None,
    image_config: str = "cropped_256",
    modality: str | None = None,
    split: str = "test",
    one_sample_per_barcode: bool = False,
    probe: str = "lbfgs",
    embeddings: str | os.PathLike | None = None,
) -> dict[str, float]:
    """Run `tasks` for `model`, plus the k-mer and alignment references when `baselines`; write outputs.

    `cluster_also` names more models whose z-scored embeddings join `model`'s for clustering;
    `encoder_options` (pooling, trust_remote_code, device, dtype) go to `load_encoder` for `model`.
    Image models (and `modality="image"`) cluster the images of `image_config`; knn and linear score
    barcodes. `split="val"` scores the probes on val / val_unseen (model selection, Table A15);
    `one_sample_per_barcode` keeps one record per distinct barcode in every split (Fig. A11); `probe`
    picks the linear probe's solver (`bioscan_hf.evaluation.probes`). `embeddings`: a file of `bioscan-hf
    embed` by `model`; its records are read instead of embedded again.
    """
    if split not in PROBE_SPLITS:
        raise ValueError(f"split must be one of {', '.join(PROBE_SPLITS)}, not {split!r}")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(TASKS)}")
    data = load_prepared(dataset_dir)
    if one_sample_per_barcode:
        data = one_per_barcode(data)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, float] = {}
    plots: dict = {}
    # each split embedded once for all tasks
    embedder = model if model == "align" else _embedder(model, embeddings, **(encoder_options or {}))
    if "knn" in tasks:
        metrics.update(knn_task(data, embedder, split=split))
    if "linear" in tasks:
        metrics.update(linear_task(data, embedder, split=split, method=probe))
    if "cluster" in tasks:
        shared = {k: v for k, v in (encoder_options or {}).items() if k != "pooling"}  # pooling is model-specific
        also = [_embedder(other, **shared) for other in cluster_also]
        kinds = [modality or embedder.default_modality(), *(e.default_modality() for e in also)]
        cluster_data = data
        if "image" in kinds:
            cluster_data = load_prepared(dataset_dir, image_config)
            cluster_data = one_per_barcode(cluster_data) if one_sample_per_barcode else cluster_data
        scores, plots = cluster_task(cluster_data, embedder, seed, also=also, modality=modality)
        metrics.update(scores)
    if baselines:
        kmer6 = embedder if str(model) == "kmer6" else "kmer6"  # reuse the k-mer embeddings when scored already
        metrics.update(knn_task(data, kmer6, prefix="baseline_kmer6_knn", split=split))
        metrics.update(knn_task(data, "align", prefix="baseline_align_knn", split=split))
        metrics.update(closed_world_task(data, "align", prefix="baseline_align_closed", split=split))
    run = {
        "protocol": "dna",
        "model": str(model),
        "concat_models": [str(m) for m in cluster_also],
        "tasks": list(tasks) + (["baselines"] if baselines else []),
        "split": split,
        "one_sample_per_barcode": one_sample_per_barcode,
        "probe": probe,
        "modality": modality or ("dna" if model == "align" else embedder.default_modality()),
        "encoder_options": encoder_options or {},
        "embeddings": os.fspath(embeddings) if embeddings else None,
        "dataset": str(dataset_dir),
        "data_origin": data_origin(dataset_dir),
    }
    write_outputs(out, model, metrics, plots, run)
    return metrics


def write_outputs(out: Path, model: str, metrics: dict[str, float], plots: dict, run: dict | None = None) -> None:
    """metrics.json (flat), run.json (what was scored, how: read by `bioscan-hf tables`), metrics.md and
    the plots a person would rather look at."""
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if run is not None:
        (out / "run.json").write_text(json.dumps(run, indent=2))
    rows = [{"metric": k, "value": v} for k, v in metrics.items()]
    (out / "metrics.md").write_text(f"# DNA evaluation of `{model}`\n\n{markdown_table(rows)}\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    knn = [r for r in KNN_RANKS if f"knn_{r}_micro" in metrics]
    if knn:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        x = np.arange(len(knn))
        ax.bar(x - 0.2, [metrics[f"knn_{r}_micro"] for r in knn], 0.4, label="micro")
        ax.bar(x + 0.2, [metrics[f"knn_{r}_macro"] for r in knn], 0.4, label="macro")
        ax.set_xticks(x, knn)
        ax.set_ylim(0, 1)
        ax.set_title("1-NN accuracy per rank (keys train, queries test_unseen)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "accuracy_per_rank.png", dpi=110)
        plt.close(fig)
    ami = [r for r in CLUSTER_RANKS if f"cluster_ami_{r}" in metrics]
    if ami:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.bar(ami, [metrics[f"cluster_ami_{r}"] for r in ami], color="tab:green")
        ax.set_ylim(0, 1)
        ax.set_title("Zero-shot clustering AMI per rank")
        fig.tight_layout()
        fig.savefig(out / "ami_per_rank.png", dpi=110)
        plt.close(fig)
    if plots:
        fig, ax = plt.subplots(figsize=(6, 5))
        orders = np.array([o or "(none)" for o in plots["order"]], dtype=object)
        for order in sorted(set(orders)):
            chosen = orders == order
            ax.scatter(*plots["plane"][chosen].T, s=4, label=order)
        ax.set_title("UMAP of test + test_unseen embeddings, by order")
        ax.legend(markerscale=3, fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "umap_by_order.png", dpi=110)
        plt.close(fig)
