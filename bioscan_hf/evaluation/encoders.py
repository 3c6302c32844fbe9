"""Score any encoder — a spec of `bioscan_hf.embedding` (a BarcodeBERT folder, `hf:PATH_OR_ID`, a timm or
CLIBD model, the k-mer profile `kmer6`) — or alignment (`align`) on a prepared dataset with the registered
protocols (`bioscan_hf.evaluation.protocols`: 1-NN, linear probe, zero-shot clustering of barcodes or
photos, the model-free baselines), and write `metrics.json`, `run.json`, a markdown table and plots. Metric
values are fractions in 0..1. (`evaluate_dna` keeps its name from when every encoder was a DNA one.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bioscan_hf.core.console import status
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.formatting import markdown_table
from bioscan_hf.core.outputs import make_output_folder
from bioscan_hf.data.prepared import data_origin, load_prepared
from bioscan_hf.evaluation.protocols import PROTOCOLS, Context
from bioscan_hf.evaluation.protocols.base import PROBE_SPLITS, embedder_of, one_per_barcode
from bioscan_hf.evaluation.protocols.cluster import CLUSTER_RANKS
from bioscan_hf.evaluation.protocols.knn import KNN_RANKS
from bioscan_hf.evaluation.settings import EvaluateSettings

#: The encoder protocols `evaluate all` runs besides the baselines.
TASKS = ("knn", "linear", "cluster")


def evaluate_dna(
    dataset_dir: str | os.PathLike,
    model: str,
    out: str | os.PathLike,
    settings: EvaluateSettings | None = None,
    *,
    tasks: Sequence[str] = TASKS,
    baselines: bool = False,
    **overrides,
) -> dict[str, float]:
    """Run `tasks` for `model`, plus the k-mer and alignment references when `baselines`; write outputs.

    `settings` (an `EvaluateSettings`, or its fields as keywords): `concat_model` names more models whose
    z-scored embeddings join `model`'s for clustering; the encoder fields (pooling, trust_remote_code,
    device, dtype) go to `load_encoder` for `model`. Image models (and `modality="image"`) cluster the
    images of `config`; knn and linear score barcodes. `split="val"` scores the probes on val / val_unseen
    (model selection, Table A15); `one_sample_per_barcode` keeps one record per distinct barcode in every
    split (Fig. A11); `probe` picks the linear probe's solver (`bioscan_hf.evaluation.probes`).
    `embeddings`: a file of `bioscan-hf embed` by `model`; its records are read instead of embedded again.
    """
    settings = EvaluateSettings.given(settings, **overrides)
    unknown = [t for t in tasks if t not in PROTOCOLS]
    if unknown:
        raise InputError(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(PROTOCOLS)}")
    if settings.split not in PROBE_SPLITS:
        raise InputError(f"split must be one of {', '.join(PROBE_SPLITS)}, not {settings.split!r}")
    # the model first (a missing or damaged folder stops the run before the dataset is opened); each split is
    # embedded once for all tasks
    encoder_options = settings.encoder_options()
    embedder = model if model == "align" else embedder_of(model, settings.embeddings, **encoder_options)
    data = load_prepared(dataset_dir)
    if settings.one_sample_per_barcode:
        data = one_per_barcode(data)
    out = make_output_folder(out)
    context = Context(dataset_dir, data, str(model), embedder, settings)
    metrics: dict[str, float] = {}
    for name in (*tasks, *(["baselines"] if baselines else [])):
        status(f"{name}: {PROTOCOLS[name].summary}")
        metrics.update(PROTOCOLS[name].run(context))
    plots = context.plots
    run = {
        "protocol": "dna",
        "model": str(model),
        "concat_models": [str(m) for m in settings.concat_model],
        "tasks": list(tasks) + (["baselines"] if baselines else []),
        "split": settings.split,
        "one_sample_per_barcode": settings.one_sample_per_barcode,
        "probe": settings.probe,
        "modality": settings.modality or ("dna" if model == "align" else embedder.default_modality()),
        "encoder_options": encoder_options,
        "embeddings": os.fspath(settings.embeddings) if settings.embeddings else None,
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
    knn = [r for r in KNN_RANKS if f"knn_{r}_micro" in metrics]
    if knn:
        fig = Figure(figsize=(6, 3.5))
        ax = fig.subplots()
        x = np.arange(len(knn))
        ax.bar(x - 0.2, [metrics[f"knn_{r}_micro"] for r in knn], 0.4, label="micro")
        ax.bar(x + 0.2, [metrics[f"knn_{r}_macro"] for r in knn], 0.4, label="macro")
        ax.set_xticks(x, knn)
        ax.set_ylim(0, 1)
        ax.set_title("1-NN accuracy per rank (keys train, queries test_unseen)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "accuracy_per_rank.png", dpi=110)
    ami = [r for r in CLUSTER_RANKS if f"cluster_ami_{r}" in metrics]
    if ami:
        fig = Figure(figsize=(6, 3.5))
        ax = fig.subplots()
        ax.bar(ami, [metrics[f"cluster_ami_{r}"] for r in ami], color="tab:green")
        ax.set_ylim(0, 1)
        ax.set_title("Zero-shot clustering AMI per rank")
        fig.tight_layout()
        fig.savefig(out / "ami_per_rank.png", dpi=110)
    if plots:
        fig = Figure(figsize=(6, 5))
        ax = fig.subplots()
        orders = np.array([o or "(none)" for o in plots["order"]], dtype=object)
        for order in sorted(set(orders)):
            chosen = orders == order
            ax.scatter(*plots["plane"][chosen].T, s=4, label=order)
        ax.set_title("UMAP of test + test_unseen embeddings, by order")
        ax.legend(markerscale=3, fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "umap_by_order.png", dpi=110)
