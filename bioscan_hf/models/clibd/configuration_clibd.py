"""CLIBD configuration: image (timm ViT), DNA (BarcodeBERT) and taxonomy-text (BERT) towers in one space."""

from __future__ import annotations

import math

from huggingface_hub.dataclasses import strict
from transformers import BertConfig, PreTrainedConfig

from ..barcodebert.configuration_barcodebert import BarcodeBertConfig


@strict
class ClibdConfig(PreTrainedConfig):
    """Defaults follow the released CLIBD (SPEC §4): ViT-B/16 images, BarcodeBERT k=5 DNA, a BERT with
    hidden size 512 for "order family genus species" text (20 tokens), a shared 768-d space, and a
    learnable temperature initialised to 1/0.07 with the logit scale clamped at 100.

    `image_model_kwargs` go to `timm.create_model` (e.g. `{"depth": 4, "embed_dim": 192}` for a small ViT).
    """

    model_type = "clibd"
    sub_configs_defaults = {"dna_config": BarcodeBertConfig, "text_config": BertConfig}

    dna_config: dict | BarcodeBertConfig | None = None
    text_config: dict | BertConfig | None = None
    image_model: str = "vit_base_patch16_224"
    image_model_kwargs: dict | None = None
    image_size: int = 224
    projection_dim: int = 768
    text_max_length: int = 20
    logit_scale_init_value: float = math.log(1 / 0.07)
    logit_scale_max: float = 100.0
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if self.dna_config is None:
            self.dna_config = BarcodeBertConfig(k_mer=5)
        if self.text_config is None:
            self.text_config = BertConfig(
                hidden_size=512, num_hidden_layers=4, num_attention_heads=8, intermediate_size=2048
            )
        super().__post_init__(**kwargs)
