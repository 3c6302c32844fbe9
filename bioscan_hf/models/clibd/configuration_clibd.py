"""CLIBD configuration: image (timm ViT), DNA (BarcodeBERT) and taxonomy-text (BERT) towers in one space."""

from __future__ import annotations

import copy
import math

from huggingface_hub.dataclasses import strict
from transformers import BertConfig, PreTrainedConfig

from ..barcodebert.configuration_barcodebert import BarcodeBertConfig

#: The modalities, in the order of CLIBD's pairs.
MODALITIES = ("image", "dna", "text")
DNA_POOLINGS = ("masked_mean", "softmax_mean")
TEXT_POOLINGS = ("masked_mean", "mean")

#: Model sizes, like timm's registered variants: the released CLIBD, and a small one that trains in CPU
#: minutes (the demo's). `ClibdConfig.from_preset(name, **overrides)` builds one.
PRESETS: dict[str, dict] = {
    "published": {},
    "small": {
        "image_model": "vit_tiny_patch16_224",
        "image_model_kwargs": {"depth": 4, "embed_dim": 128, "num_heads": 4, "patch_size": 8},
        "image_size": 64,
        "projection_dim": 128,
        "dna_config": {
            "k_mer": 4,
            "hidden_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 512,
        },
        "text_config": {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 512},
    },
}


@strict
class ClibdConfig(PreTrainedConfig):
    """Defaults follow the released CLIBD (SPEC §4): ViT-B/16 images, BarcodeBERT k=5 DNA, a BERT with
    hidden size 512 for "order family genus species" text (20 tokens), a shared 768-d space, and a
    learnable temperature initialised to 1/0.07 with the logit scale clamped at 100.

    `image_model_kwargs` go to `timm.create_model` (e.g. `{"depth": 4, "embed_dim": 192}` for a small ViT).

    Pooling (SPEC §4 asks ours to ignore padding; the published checkpoints need their own, kept as switches):
    `dna_pooling` "masked_mean" (BarcodeBERT's embedding, projected) or "softmax_mean" (the published CLIBD:
    BERT's MLM transform, a linear map to the shared space, softmax, mean over every position);
    `text_pooling` "masked_mean" or "mean" (the published CLIBD averages the padding of its 20 tokens too);
    `projection_bias` gives the three projections a bias (the published CLIBD's heads have one).
    `towers` lists the towers the model has (the published image+DNA runs have no text tower).
    `release` names the published checkpoint a converted model came from.
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
    dna_pooling: str = "masked_mean"
    text_pooling: str = "masked_mean"
    projection_bias: bool = False
    towers: list[str] | None = None
    release: str | None = None

    def __post_init__(self, **kwargs):
        self.towers = list(self.towers or MODALITIES)
        unknown = set(self.towers) - set(MODALITIES)
        if unknown or len(self.towers) < 2:
            raise ValueError(f"towers must be at least two of {', '.join(MODALITIES)}, got {self.towers}")
        for name, allowed in (("dna_pooling", DNA_POOLINGS), ("text_pooling", TEXT_POOLINGS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.dna_config is None:
            self.dna_config = BarcodeBertConfig(k_mer=5)
        if self.text_config is None:
            self.text_config = BertConfig(
                hidden_size=512, num_hidden_layers=4, num_attention_heads=8, intermediate_size=2048
            )
        super().__post_init__(**kwargs)

    @classmethod
    def from_preset(cls, preset: str = "published", **overrides) -> ClibdConfig:
        """The config of a named model size (`PRESETS`), with fields overridden."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**copy.deepcopy(PRESETS[preset]), **overrides})
