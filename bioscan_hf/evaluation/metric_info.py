"""What the package's `evaluate` metrics (`evaluation/metrics/*`) declare about themselves, in one place."""

from __future__ import annotations

import datasets
import evaluate

CITATION = "Gharaee et al., BIOSCAN-5M, 2024"


def metric_info(description: str, inputs: str, predictions: datasets.Value | datasets.List) -> evaluate.MetricInfo:
    """A metric's `MetricInfo`: its description, inputs text, and its predictions' feature (references are
    label strings)."""
    return evaluate.MetricInfo(
        description=description,
        citation=CITATION,
        inputs_description=inputs,
        features=datasets.Features({"predictions": predictions, "references": datasets.Value("string")}),
    )
