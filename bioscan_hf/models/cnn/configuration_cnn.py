"""The CNN baseline of BarcodeBERT's paper and BIOSCAN-5M's Table 4: a small 2-D CNN over one-hot barcodes."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class BarcodeCnnConfig(PreTrainedConfig):
    """Defaults are the published baseline: barcodes cut or padded to 660 bases, one-hot over A C G T N
    (padding and other letters all zero), three 3×3 convolutions (64, 32, 16 channels; no padding along
    the sequence, one across the bases) each followed by ReLU, batch norm and max-pooling by 3 along the
    sequence, then a 500-d tanh embedding (the features used for 1-NN probes) and the classifier."""

    model_type = "barcode_cnn"

    max_nucleotides: int = 660
    channels: list[int] | None = None
    embedding_dim: int = 500
    dropout: float = 0.2
    num_labels: int = 2

    def __post_init__(self, **kwargs):
        if self.channels is None:
            self.channels = [64, 32, 16]
        super().__post_init__(**kwargs)

    @property
    def flat_dim(self) -> int:
        """Width of the flattened last feature map: each block cuts 2 positions, then pools by 3."""
        length = self.max_nucleotides
        for _ in self.channels:
            length = (length - 2) // 3
        if length < 1:
            raise ValueError(f"max_nucleotides={self.max_nucleotides} is too short for {len(self.channels)} blocks")
        return self.channels[-1] * length * 5
