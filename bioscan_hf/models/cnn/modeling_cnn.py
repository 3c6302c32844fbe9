"""The CNN baseline as a transformers model: `BarcodeCnnModel` (500-d embeddings) and a species head."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput

from ...core.barcodes import BASES as NUCLEOTIDES
from ...core.barcodes import UNKNOWN
from .configuration_cnn import BarcodeCnnConfig

#: Input ids of the one-hot channels; any other id (padding) is an all-zero column.
BASES = NUCLEOTIDES + UNKNOWN


class BarcodeCnnPreTrainedModel(PreTrainedModel):
    config_class = BarcodeCnnConfig
    config: BarcodeCnnConfig
    base_model_prefix = "cnn"
    main_input_name = "input_ids"

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(module.weight, a=5**0.5)  # torch's own default, drawn after set_seed
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class BarcodeCnnModel(BarcodeCnnPreTrainedModel):
    """One-hot barcodes [B, L] (ids 0–4 = A C G T N) → 500-d embeddings (`pooler_output`)."""

    _keys_to_ignore_on_load_unexpected = [r"^classifier\."]  # opened from a fine-tuned classifier

    def __init__(self, config: BarcodeCnnConfig) -> None:
        super().__init__(config)
        blocks, channels = [], 1
        for width in config.channels:
            blocks.append(
                nn.ModuleDict(
                    {
                        "conv": nn.Conv2d(channels, width, kernel_size=(3, 3), padding=(0, 1)),
                        "norm": nn.BatchNorm2d(width),
                    }
                )
            )
            channels = width
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.MaxPool2d((3, 1))
        self.dropout = nn.Dropout(config.dropout)
        self.embedding = nn.Linear(config.flat_dim, config.embedding_dim)
        self.post_init()

    def one_hot(self, input_ids: torch.Tensor) -> torch.Tensor:
        """[B, L] ids → [B, 1, max_nucleotides, 5] one-hot (cut or zero-padded to the configured length)."""
        length = self.config.max_nucleotides
        ids = input_ids[:, :length]
        encoded = nn.functional.one_hot(ids.clamp(0, len(BASES)), len(BASES) + 1)[..., : len(BASES)]
        encoded = nn.functional.pad(encoded, (0, 0, 0, length - ids.shape[1]))
        return encoded.unsqueeze(1).to(self.embedding.weight.dtype)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):
        x = self.one_hot(input_ids if attention_mask is None else input_ids.masked_fill(attention_mask == 0, 99))
        for block in self.blocks:
            x = self.pool(block["norm"](nn.functional.relu(self.dropout(block["conv"](x)))))
        features = torch.tanh(self.dropout(self.embedding(x.flatten(1))))
        return BaseModelOutputWithPooling(last_hidden_state=features.unsqueeze(1), pooler_output=features)

    def get_dna_embeddings(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The 500-d tanh features (the paper's CNN embeddings for 1-NN probes)."""
        return self(input_ids=input_ids, attention_mask=attention_mask).pooler_output


class BarcodeCnnForSequenceClassification(BarcodeCnnPreTrainedModel):
    """The CNN with its species classifier; the loss is cross-entropy when labels are given."""

    def __init__(self, config: BarcodeCnnConfig) -> None:
        super().__init__(config)
        self.cnn = BarcodeCnnModel(config)
        self.classifier = nn.Linear(config.embedding_dim, config.num_labels)
        self.post_init()

    def get_dna_embeddings(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.cnn.get_dna_embeddings(input_ids, attention_mask)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        features = self.cnn(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        logits = self.classifier(features)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)
