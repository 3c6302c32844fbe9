"""CLIBD as an encoder: its image tower and its DNA tower, each projected into the shared space."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from transformers import AutoModel

import bioscan_hf.models.auto  # noqa: F401  (registers CLIBD with the Auto classes)
from bioscan_hf.embedding.base import Encoder
from bioscan_hf.models.checks import model_location
from bioscan_hf.models.clibd.processing_clibd import ClibdProcessor


class ClibdEncoder(Encoder):
    """Image and DNA features of a CLIBD folder (L2-normalised, `projection_dim` wide)."""

    def __init__(self, model_dir: str | os.PathLike, **runtime) -> None:
        """`runtime`: batch_size, device, num_workers, dtype (`Encoder`)."""
        super().__init__(**runtime)
        location = model_location(model_dir)
        self.name = str(model_dir)
        self.model = AutoModel.from_pretrained(location, dtype=self.dtype).eval().to(self.device)
        self.processor = ClibdProcessor.from_pretrained(location)
        self.dna_dim = self.image_dim = int(self.model.config.projection_dim)

    def prepare_barcodes(self, sequences: Sequence[str]) -> list[str]:
        """Trailing N stripped, as in training."""
        return [(s or "").rstrip("N") for s in sequences]

    def _dna_batch(self, sequences: list[str]) -> torch.Tensor:
        batch = self.processor.tokenize_dna(sequences).to(self.device)
        return self.model.get_dna_features(batch["input_ids"], batch["attention_mask"])

    def image_transform(self, image):
        return self.processor.image_processor.transform(image)

    def _image_batch(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.get_image_features(pixels.to(self.model.dtype))
