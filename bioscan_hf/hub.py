"""Uploads to the Hugging Face Hub and model cards, shared by datasets, models and the Space."""

from __future__ import annotations

import json
import os
from pathlib import Path

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData

CARD_TEMPLATES = Path(__file__).resolve().parent / "model_cards"


def upload_folder(
    folder: str | os.PathLike,
    repo_id: str,
    repo_type: str,
    token: str | None = None,
    private: bool = False,
    ignore_patterns: list[str] | None = None,
    message: str = "Upload with bioscan-hf",
) -> str:
    """Create the Hub repo if needed and upload `folder` into it; returns the repo URL."""
    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    api.upload_folder(
        repo_id=repo_id,
        repo_type=repo_type,
        folder_path=str(folder),
        ignore_patterns=ignore_patterns,
        commit_message=message,
    )
    return str(url)


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
