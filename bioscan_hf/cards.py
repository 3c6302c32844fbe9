"""Model cards of trained models: `model_cards/*.md` rendered with a saved model's config and metrics."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from bioscan_hf.core.formatting import markdown_table
from bioscan_hf.hub import read_metrics, render_model_card
from bioscan_hf.models.barcodebert import BarcodeBertConfig, BarcodeBertModel
from bioscan_hf.models.clibd import ClibdConfig, ClibdModel


def write_barcodebert_card(
    model_dir: str | os.PathLike, repo_id: str, data_note: str, metrics: dict[str, float] | None = None
) -> Path:
    """Render `model_cards/barcodebert.md` for a saved model into `model_dir/README.md`."""
    config = BarcodeBertConfig.from_pretrained(model_dir)
    with torch.device("meta"):  # the parameter count needs the shapes, not the weights
        model = BarcodeBertModel(config)
    config = config.to_dict()
    metrics = read_metrics(model_dir) if metrics is None else metrics
    card = render_model_card(
        "barcodebert", config, metrics, repo_id, data_note, n_parameters=f"{model.num_parameters():,}"
    )
    path = Path(model_dir) / "README.md"
    card.save(path)
    return path


def write_clibd_card(
    model_dir: str | os.PathLike, repo_id: str, data_note: str, retrieval_dir: str | os.PathLike | None = None
) -> Path:
    """Render `model_cards/clibd.md` for a saved CLIBD into `model_dir/README.md`, with the retrieval
    table of `evaluate retrieval`'s output folder when given."""
    from bioscan_hf.evaluation.retrieval import retrieval_rows

    model_dir = Path(model_dir)
    config = ClibdConfig.from_pretrained(model_dir)
    with torch.device("meta"):  # the parameter count needs the shapes, not the weights
        n_parameters = ClibdModel(config).num_parameters()
    metrics, results = {}, "No retrieval evaluation was recorded for this checkpoint."
    if retrieval_dir is not None:
        metrics = json.loads((Path(retrieval_dir) / "metrics.json").read_text())
        results = markdown_table(retrieval_rows(metrics, "macro"))
    headline = {k: v for k, v in metrics.items() if not k.startswith("baseline_") and "_top1_macro_hm" in k}
    training = model_dir / "training.json"
    summary = json.loads(training.read_text()) if training.is_file() else {}
    card = render_model_card(
        "clibd",
        config.to_dict(),
        headline,
        repo_id,
        data_note,
        results=results,
        n_parameters=f"{n_parameters:,}",
        dna_k_mer=config.dna_config.k_mer,
        dna_layers=config.dna_config.num_hidden_layers,
        dna_hidden=config.dna_config.hidden_size,
        text_layers=config.text_config.num_hidden_layers,
        text_hidden=config.text_config.hidden_size,
        training=", ".join(f"{k}: {v}" for k, v in summary.items()) or "not recorded",
    )
    path = model_dir / "README.md"
    card.save(path)
    return path
