"""Model cards: rendered from the templates in `bioscan_hf/model_cards/` with the metrics a run recorded
(`render_model_card`), and written into a trained BarcodeBERT or CLIBD folder (`write_*_card`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from bioscan_hf.core.formatting import markdown_table
from bioscan_hf.evaluation.retrieval import retrieval_rows
from bioscan_hf.models.barcodebert import BarcodeBertConfig, BarcodeBertModel
from bioscan_hf.models.clibd import ClibdConfig, ClibdModel

CARD_TEMPLATES = Path(__file__).resolve().parents[1] / "model_cards"


def results_table(metrics: dict[str, float]) -> str:
    """Metrics (fractions) as a markdown table of percentages."""
    if not metrics:
        return "No evaluation results were recorded for this checkpoint."
    rows = "\n".join(f"| {name} | {100 * value:.2f} |" for name, value in sorted(metrics.items()))
    return "| metric | % |\n|---|---|\n" + rows


def render_model_card(
    template: str,
    config: dict,
    metrics: dict[str, float],
    repo_id: str,
    data_note: str,
    dataset_name: str = "BIOSCAN-5M",
    results: str | None = None,
    **fields,
) -> ModelCard:
    """Render `model_cards/{template}.md` from a model's config and its evaluation results
    (`metrics` go into the card's metadata; `results`, when given, replaces the default results table)."""
    eval_results = [
        EvalResult(
            task_type="text-classification" if "accuracy" in name else "feature-extraction",
            dataset_type="bioscan-5m",
            dataset_name=dataset_name,
            metric_type=name,
            metric_value=value,
        )
        for name, value in sorted(metrics.items())
    ]
    card_data = ModelCardData(
        library_name="transformers",
        license="mit",
        tags=["biology", "dna-barcodes", "bioscan", config.get("model_type", "")],
        datasets=["bioscan-ml/BIOSCAN-5M"],
        model_name=repo_id,
        eval_results=eval_results or None,
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(CARD_TEMPLATES / f"{template}.md"),
        model_name=repo_id,
        repo_id=repo_id,
        data_note=data_note,
        results_table=results if results is not None else results_table(metrics),
        **{**config, **fields},
    )


def read_metrics(model_dir: str | os.PathLike) -> dict[str, float]:
    """The `metrics.json` a training run left beside the model (empty when absent)."""
    path = Path(model_dir) / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


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
