"""CLIBD retrieval evaluation (SPEC §3, the paper's Table 5): classify each query by its nearest keys.

Keys are `train` + `key_unseen`; queries are `test` (seen species) and `test_unseen` (unseen species), or
their `val` twins. Search is exact inner product (FAISS) on L2-normalised features. Directions:
DNA→DNA, image→image, image→DNA, and `concat`: image and DNA features concatenated on both sides, which
ranks keys by the mean of the image and the DNA cosine similarity. Top-k accuracy counts a query as
right when one of its k nearest keys has its label; micro = share of queries, macro = mean over the
queries' classes. Per rank, keys and queries unlabelled at that rank are left out; records whose image
cannot be decoded are left out of the image directions and listed by processid in the results.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import datasets
import numpy as np
from matplotlib.figure import Figure

from bioscan_hf.core.errors import EvaluationError, InputError
from bioscan_hf.core.formatting import markdown_table
from bioscan_hf.core.metrics import micro_macro
from bioscan_hf.core.outputs import make_output_folder
from bioscan_hf.core.vectors import nearest_keys
from bioscan_hf.data.prepared import data_origin, load_prepared, rank_values
from bioscan_hf.data.schema import KEY_SPLITS
from bioscan_hf.embedding import EncoderError
from bioscan_hf.embedding.clibd import ClibdEncoder
from bioscan_hf.embedding.splits import SplitEmbeddings
from bioscan_hf.embedding.store import read_embeddings
from bioscan_hf.evaluation.settings import EvaluateSettings

RANKS = ("order", "family", "genus", "species")
TOP_K = (1, 3, 5)
QUERY_SPLITS = {"test": {"seen": "test", "unseen": "test_unseen"}, "val": {"seen": "val", "unseen": "val_unseen"}}
#: direction → (query modality, key modality)
DIRECTIONS = {
    "dna_to_dna": ("dna", "dna"),
    "image_to_image": ("image", "image"),
    "image_to_dna": ("image", "dna"),
    "concat_to_concat": ("concat", "concat"),
}
DIRECTION_TITLES = {
    "dna_to_dna": "DNA → DNA",
    "image_to_image": "image → image",
    "image_to_dna": "image → DNA",
    "concat_to_concat": "image+DNA → image+DNA",
}


def harmonic_mean(seen: float, unseen: float) -> float:
    """The paper's summary of seen and unseen accuracy (0 when both are 0)."""
    return 2 * seen * unseen / (seen + unseen) if seen + unseen > 0 else 0.0


def split_features(embeddings: SplitEmbeddings, data: datasets.DatasetDict, split: str) -> dict[str, np.ndarray]:
    """A split's image, DNA and image+DNA features and `image_ok` (the records whose image decoded)."""
    try:
        image, ok = embeddings.images(data, split)
        dna = embeddings.dna(data, split)
    except EncoderError as err:
        raise EvaluationError(str(err)) from None
    return {"image": image, "dna": dna, "concat": np.hstack([image, dna]), "image_ok": ok}


def topk_accuracy(
    key_vectors: np.ndarray,
    key_labels: Sequence,
    query_vectors: np.ndarray,
    query_labels: Sequence,
    ks: Sequence[int] = TOP_K,
) -> dict[int, tuple[float, float]]:
    """Top-k micro and macro accuracy of queries classified by their nearest keys, per k."""
    key_labels, query_labels = np.asarray(key_labels, dtype=object), np.asarray(query_labels, dtype=object)
    indices, _ = nearest_keys(key_vectors, query_vectors, min(max(ks), len(key_labels)))
    neighbours = key_labels[indices]
    return {k: micro_macro((neighbours[:, :k] == query_labels[:, None]).any(axis=1), query_labels) for k in ks}


def _uses_image(modality: str) -> bool:
    return modality in ("image", "concat")


def score_direction(
    keys: dict[str, np.ndarray],
    key_labels: dict[str, list],
    queries: dict[str, dict[str, np.ndarray]],
    query_labels: dict[str, dict[str, list]],
    direction: str,
    ks: Sequence[int] = TOP_K,
) -> dict[str, float]:
    """Metrics `{direction}_{rank}_top{k}_{micro|macro}_{seen|unseen|hm}` of one direction."""
    query_modality, key_modality = DIRECTIONS[direction]
    metrics: dict[str, float] = {}
    for rank in RANKS:
        key_keep = np.array([v is not None for v in key_labels[rank]])
        if _uses_image(key_modality):
            key_keep &= keys["image_ok"]
        if not key_keep.any():
            raise EvaluationError(f"{direction}: no key is labelled at {rank}")
        kept_key_labels = np.asarray(key_labels[rank], dtype=object)[key_keep]
        by_group = {}
        for group, features in queries.items():
            labels = np.asarray(query_labels[group][rank], dtype=object)
            keep = labels != None  # noqa: E711  (element-wise)
            if _uses_image(query_modality):
                keep &= features["image_ok"]
            if keep.any():
                by_group[group] = topk_accuracy(
                    keys[key_modality][key_keep], kept_key_labels, features[query_modality][keep], labels[keep], ks
                )
        for k in ks:
            for average, position in (("micro", 0), ("macro", 1)):
                name = f"{direction}_{rank}_top{k}_{average}"
                for group, result in by_group.items():
                    metrics[f"{name}_{group}"] = result[k][position]
                if {"seen", "unseen"} <= set(by_group):
                    metrics[f"{name}_hm"] = harmonic_mean(
                        by_group["seen"][k][position], by_group["unseen"][k][position]
                    )
    return metrics


def retrieval_metrics(
    data: datasets.DatasetDict, embeddings: SplitEmbeddings, queries: str = "test", ks: Sequence[int] = TOP_K
) -> dict[str, float]:
    """Every direction's metrics for one model on a prepared image config."""
    if queries not in QUERY_SPLITS:
        raise InputError(f"queries must be one of {', '.join(QUERY_SPLITS)}, not {queries!r}")
    key_names = [s for s in KEY_SPLITS if s in data and data[s].num_rows]
    if not key_names:
        raise EvaluationError(f"the dataset has no {' or '.join(KEY_SPLITS)} records to use as keys")
    parts = [split_features(embeddings, data, s) for s in key_names]
    keys = {m: np.concatenate([p[m] for p in parts]) for m in parts[0]}
    key_labels = {r: [v for s in key_names for v in rank_values(data[s], r)] for r in RANKS}
    groups = {g: s for g, s in QUERY_SPLITS[queries].items() if s in data and data[s].num_rows}
    if not groups:
        raise EvaluationError(f"the dataset has no {' or '.join(QUERY_SPLITS[queries].values())} records")
    query_features = {g: split_features(embeddings, data, s) for g, s in groups.items()}
    query_labels = {g: {r: rank_values(data[s], r) for r in RANKS} for g, s in groups.items()}
    metrics: dict[str, float] = {}
    for direction in DIRECTIONS:
        metrics.update(score_direction(keys, key_labels, query_features, query_labels, direction, ks))
    return metrics


def default_baseline(model_dir: str | os.PathLike) -> Path | None:
    """`OUT/initial` beside a `train-clibd` output's `OUT/final`: the towers before alignment."""
    initial = Path(model_dir).parent / "initial"
    return initial if (initial / "config.json").is_file() and initial != Path(model_dir) else None


def evaluate_retrieval(
    dataset_dir: str | os.PathLike,
    model_dir: str | os.PathLike,
    out: str | os.PathLike,
    baseline_dir: str | os.PathLike | None = None,
    settings: EvaluateSettings | None = None,
    **overrides,
) -> dict[str, float]:
    """Score a CLIBD folder (and the no-alignment baseline, prefixed `baseline_`); write metrics.json,
    retrieval.md (Table-5 layout) and retrieval.png into `out`. `settings` (an `EvaluateSettings`, or its
    fields as keywords): the image `config`, the `queries` split, and `embeddings`, a file of `bioscan-hf
    embed` by the same CLIBD (`--modality both`), read instead of embedding its records again."""
    settings = EvaluateSettings.given(settings, **overrides)
    config, queries, embeddings = settings.config, settings.queries, settings.embeddings
    data = load_prepared(dataset_dir, config)
    if "image" not in data[next(iter(data))].features:
        raise InputError(f"config {config!r} has no images; evaluate retrieval on an image config such as cropped_256")
    out = make_output_folder(out)
    encoder = ClibdEncoder(model_dir)
    stored = read_embeddings(embeddings) if embeddings else None
    metrics = retrieval_metrics(data, SplitEmbeddings(encoder, stored), queries)
    undecodable = dict(encoder.undecodable)
    if baseline_dir is not None:
        baseline = SplitEmbeddings(ClibdEncoder(baseline_dir))
        metrics.update({f"baseline_{k}": v for k, v in retrieval_metrics(data, baseline, queries).items()})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    run = {
        "protocol": "retrieval",
        "model": str(model_dir),
        "baseline": str(baseline_dir) if baseline_dir is not None else None,
        "embeddings": os.fspath(embeddings) if embeddings else None,
        "queries": queries,
        "config": config,
        "dataset": str(dataset_dir),
        "data_origin": data_origin(dataset_dir),
    }
    (out / "run.json").write_text(json.dumps(run, indent=2))
    (out / "undecodable_images.json").write_text(json.dumps(undecodable, indent=2))
    (out / "retrieval.md").write_text(retrieval_report(metrics, model_dir, baseline_dir, undecodable))
    plot_retrieval(metrics, out / "retrieval.png")
    return metrics


def retrieval_rows(metrics: dict[str, float], average: str = "macro", k: int = 1) -> list[dict]:
    """Table-5 rows: one per (model, direction), columns seen / unseen / H.M. per rank (fractions)."""
    rows = []
    for prefix, label in (("baseline_", "no alignment"), ("", "CLIBD")):
        for direction, title in DIRECTION_TITLES.items():
            if f"{prefix}{direction}_species_top{k}_{average}_seen" not in metrics:
                continue
            row: dict[str, object] = {"model": label, "query → key": title}
            for rank in RANKS:
                for group, heading in (("seen", "seen"), ("unseen", "unseen"), ("hm", "H.M.")):
                    value = metrics.get(f"{prefix}{direction}_{rank}_top{k}_{average}_{group}")
                    row[f"{rank} {heading}"] = "–" if value is None else value
            rows.append(row)
    return rows


def retrieval_report(
    metrics: dict[str, float],
    model_dir: str | os.PathLike,
    baseline_dir: str | os.PathLike | None,
    undecodable: dict[str, str],
) -> str:
    """The markdown report: top-1 macro and micro tables, then what was left out."""
    parts = [
        f"# Retrieval evaluation of `{model_dir}`",
        "Keys train + key_unseen; queries seen (test) and unseen (test_unseen); exact inner-product search on "
        "L2-normalised features; a query is right when its nearest key has its label. H.M. = "
        "harmonic mean of seen and unseen. Top-3 and top-5 are in metrics.json.",
    ]
    if baseline_dir is not None:
        parts.append(f"No alignment: `{baseline_dir}` (the towers before contrastive training).")
    parts += ["## Top-1 macro accuracy", markdown_table(retrieval_rows(metrics, "macro"))]
    parts += ["## Top-1 micro accuracy", markdown_table(retrieval_rows(metrics, "micro"))]
    if undecodable:
        listed = "\n".join(f"- {pid}: {problem}" for pid, problem in sorted(undecodable.items()))
        parts += [f"## Left out of the image directions ({len(undecodable)} undecodable images)", listed]
    return "\n\n".join(parts) + "\n"


def plot_retrieval(metrics: dict[str, float], path: Path) -> None:
    """Bars of top-1 macro H.M. per rank and direction, no alignment beside CLIBD."""
    directions = [d for d in DIRECTIONS if f"{d}_order_top1_macro_hm" in metrics]
    if not directions:
        return
    fig = Figure(figsize=(3.2 * len(directions), 3.2))
    axes = fig.subplots(1, len(directions), sharey=True)
    x = np.arange(len(RANKS))
    for ax, direction in zip(np.atleast_1d(axes), directions):
        for shift, prefix, label in ((-0.2, "baseline_", "no alignment"), (0.2, "", "CLIBD")):
            values = [metrics.get(f"{prefix}{direction}_{rank}_top1_macro_hm") for rank in RANKS]
            if all(v is not None for v in values):
                ax.bar(x + shift, values, 0.4, label=label)
        ax.set_xticks(x, RANKS, rotation=30)
        ax.set_title(DIRECTION_TITLES[direction], fontsize=10)
        ax.set_ylim(0, 1)
    np.atleast_1d(axes)[0].set_ylabel("top-1 macro accuracy, H.M.")
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)
