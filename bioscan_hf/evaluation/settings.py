"""The settings of an evaluation (`EvaluateSettings`), as `TrainingArguments` is for training: one frozen
dataclass, each field declared once with its help text; the argument of `evaluate_dna` and
`evaluate_retrieval`, the `evaluate` command's options, and what every protocol reads from its `Context`.
Importing it imports no model."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.core.options import option
from bioscan_hf.embedding.settings import EMBEDDINGS_HELP, EncoderSettings


@dataclass(frozen=True, kw_only=True)
class EvaluateSettings(EncoderSettings):
    """How a model is scored: the split, the probe's solver, what is clustered, the retrieval queries."""

    seed: int = option("random seed (UMAP, probes)", 0)
    config: str = option(
        "the image config for retrieval and for clustering images (default cropped_256)", "cropped_256"
    )
    split: str = option(
        "knn/linear/baselines: score on test / test_unseen, or on val / val_unseen for model selection",
        "test",
        choices=("test", "val"),
    )
    probe: str = option(
        "linear probe solver: lbfgs (converged logistic regression, fits the paper's scale in memory) or sgd (the "
        "paper's recipe: SGD lr 0.01, momentum 0.9, weight decay 1e-5)",
        "lbfgs",
        choices=("lbfgs", "sgd"),
    )
    one_sample_per_barcode: bool = option(
        "keep one record per distinct barcode in every split (the paper's Fig. A11 protocol)", False
    )
    modality: str | None = option(
        "cluster: what MODEL embeds (default: barcodes when it has a DNA tower, else images)",
        None,
        choices=("dna", "image"),
    )
    concat_model: tuple[str, ...] = option(
        "cluster on MODEL's embeddings z-scored and concatenated with this model's (repeatable; e.g. an image "
        "model with a DNA model, Table A16)",
        [],
        append=True,
    )
    queries: str = option("retrieval: test or val queries", "test", choices=("test", "val"))
    embeddings: str | None = option(EMBEDDINGS_HELP, None)

    def __post_init__(self) -> None:
        self._set("concat_model", tuple(self.concat_model))
