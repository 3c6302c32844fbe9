"""CLIBD: contrastive image–DNA–taxonomy model with a CLIP-like API.

Three towers — a timm ViT for images, `BarcodeBertModel` for barcodes, a BERT for the taxonomy string —
each followed by a linear projection into one L2-normalised space. The loss is the symmetric InfoNCE
averaged over the pairs image–DNA, image–text and DNA–text. A record missing a modality (marked by a
False entry in `image_mask` / `dna_mask` / `text_mask`) is left out of the pairs that need it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
import torch.distributed as dist
from torch import nn
from transformers import BertConfig, BertModel, PreTrainedModel
from transformers.models.bert.modeling_bert import BertPredictionHeadTransform
from transformers.utils import ModelOutput

from ..barcodebert.modeling_barcodebert import BarcodeBertModel, masked_mean
from ..remote_code import push_finished_folder, save_flat_modules
from .configuration_clibd import ClibdConfig

PAIRS = (("image", "dna"), ("image", "text"), ("dna", "text"))


def gather_with_grad(features: torch.Tensor) -> torch.Tensor:
    """Features of every process, concatenated, keeping gradients (identity without distribution)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return features
    from torch.distributed.nn.functional import all_gather  # only here: torch builds without distributed lack it

    return torch.cat(all_gather(features), dim=0)


def info_nce(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE of matched rows of two L2-normalised feature matrices."""
    logits = scale * a @ b.t()
    targets = torch.arange(len(a), device=a.device)
    return (nn.functional.cross_entropy(logits, targets) + nn.functional.cross_entropy(logits.t(), targets)) / 2


def clibd_loss(
    features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], scale: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Mean symmetric InfoNCE over the modality pairs present; each pair uses the rows having both."""
    losses = {}
    for first, second in PAIRS:
        if first not in features or second not in features:
            continue
        both = masks[first] & masks[second]
        if both.sum() >= 2:
            losses[f"{first}_{second}"] = info_nce(features[first][both], features[second][both], scale)
    if not losses:
        raise ValueError("a CLIBD batch needs at least two records sharing two modalities")
    return torch.stack(list(losses.values())).mean(), losses


class LogitScale(nn.Module):
    """The learnable temperature: exp(`log_value`) clamped at `maximum`.

    A module rather than a bare parameter, so LoRA runs can train and save it with the projections
    (peft's `modules_to_save` takes modules).
    """

    def __init__(self, init: float, maximum: float) -> None:
        super().__init__()
        self.log_value = nn.Parameter(torch.tensor(float(init)))
        self.maximum = maximum

    def forward(self) -> torch.Tensor:
        return self.log_value.exp().clamp(max=self.maximum)


@dataclass
class ClibdOutput(ModelOutput):
    """CLIP-style outputs: the scaled similarities of each pair of modalities given, the normalised
    embeddings, and (with `return_loss=True`) the loss and the per-pair losses.

    `logits_per_image` [images, barcodes] scores each photo against each barcode (CLIBD's retrieval: a photo
    identified by reference barcodes) and `logits_per_dna` is its transpose; `logits_image_text` and
    `logits_dna_text` score against the taxonomy texts.
    """

    loss: torch.Tensor | None = None
    logits_per_image: torch.Tensor | None = None
    logits_per_dna: torch.Tensor | None = None
    logits_image_text: torch.Tensor | None = None
    logits_dna_text: torch.Tensor | None = None
    image_embeds: torch.Tensor | None = None
    dna_embeds: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None
    logit_scale: torch.Tensor | None = None
    pair_losses: dict | None = None


def create_image_tower(config: ClibdConfig, checkpoint: str | os.PathLike | None = None) -> nn.Module:
    """The timm image model without its classifier; weights from a local timm checkpoint when given."""
    kwargs = {"img_size": config.image_size, **(config.image_model_kwargs or {})}
    if checkpoint is None:
        return timm.create_model(config.image_model, pretrained=False, num_classes=0, **kwargs)
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"image checkpoint {checkpoint} is not a file (.safetensors, .pth or .bin)")
    overlay = {"file": str(checkpoint)}
    return timm.create_model(
        config.image_model, pretrained=True, pretrained_cfg_overlay=overlay, num_classes=0, **kwargs
    )


class ClibdPreTrainedModel(PreTrainedModel):
    """Weights initialisation and loading for CLIBD."""

    config_class = ClibdConfig
    config: ClibdConfig
    base_model_prefix = "clibd"
    _supports_sdpa = True

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """`PreTrainedModel.save_pretrained`, plus the module files (BarcodeBERT's too) and the `auto_map` that
        let `AutoModel.from_pretrained(folder, trust_remote_code=True)` load it without bioscan-hf.
        With `push_to_hub=True` the finished folder is uploaded (`push_to_hub`, which saves the same way)."""
        push = kwargs.pop("push_to_hub", False)
        # not registered with register_for_auto_class: transformers' own copy cannot follow the sibling import
        self.config.auto_map = {
            "AutoConfig": "configuration_clibd.ClibdConfig",
            "AutoModel": "modeling_clibd.ClibdModel",
        }
        super().save_pretrained(save_directory, **kwargs)
        needed = (BarcodeBertModel.config_class, BarcodeBertModel, save_flat_modules, type(self.config), ClibdModel)
        save_flat_modules(save_directory, (sys.modules[obj.__module__] for obj in needed))
        if push:
            push_finished_folder(self, save_directory, kwargs)


class ClibdModel(ClibdPreTrainedModel):
    """The three towers, their projections and the learnable temperature."""

    def __init__(self, config: ClibdConfig) -> None:
        super().__init__(config)
        bias, towers = config.projection_bias, config.towers
        self.image_model = self.image_projection = self.dna_model = self.dna_head = self.dna_projection = None
        self.text_model = self.text_projection = None
        if "image" in towers:
            self.image_model = create_image_tower(config)
            self.image_projection = nn.Linear(self.image_model.num_features, config.projection_dim, bias=bias)
        if "dna" in towers:
            self.dna_model = BarcodeBertModel(config.dna_config)
            # the published CLIBD maps BarcodeBERT's tokens through its MLM head transform before projecting
            if config.dna_pooling == "softmax_mean":
                self.dna_head = BertPredictionHeadTransform(config.dna_config)
            self.dna_projection = nn.Linear(config.dna_config.hidden_size, config.projection_dim, bias=bias)
        if "text" in towers:
            self.text_model = BertModel(config.text_config, add_pooling_layer=False)
            self.text_projection = nn.Linear(config.text_config.hidden_size, config.projection_dim, bias=bias)
        self.logit_scale = LogitScale(config.logit_scale_init_value, config.logit_scale_max)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # the towers initialise themselves; the temperature and the projections are ours
        if isinstance(module, LogitScale):
            with torch.no_grad():
                module.log_value.fill_(float(self.config.logit_scale_init_value))
        elif isinstance(module, nn.Linear) and module in (
            self.image_projection,
            self.dna_projection,
            self.text_projection,
        ):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    @classmethod
    def from_towers(
        cls,
        config: ClibdConfig | None = None,
        image_checkpoint: str | os.PathLike | None = None,
        dna_model: str | os.PathLike | None = None,
        text_model: str | os.PathLike | None = None,
    ) -> ClibdModel:
        """A CLIBD whose towers start from local checkpoints: a timm weights file for `config.image_model`,
        a BarcodeBERT folder (any head) and a BERT folder. The tower configs come from the checkpoints;
        the projections and the temperature start fresh."""
        config = config or ClibdConfig()
        dna = BarcodeBertModel.from_pretrained(dna_model) if dna_model else None
        text = BertModel.from_pretrained(text_model, add_pooling_layer=False) if text_model else None
        if dna is not None:
            config.dna_config = dna.config
        if text is not None:
            config.text_config = BertConfig(**text.config.to_dict())
        model = cls(config)
        if image_checkpoint:
            model.image_model.load_state_dict(create_image_tower(config, image_checkpoint).state_dict())
        if dna is not None:
            model.dna_model.load_state_dict(dna.state_dict())
        if text is not None:
            model.text_model.load_state_dict(text.state_dict())
        return model

    def _require(self, tower: str) -> None:
        if tower not in self.config.towers:
            raise ValueError(
                f"this CLIBD has no {tower} tower (it was trained on {' + '.join(self.config.towers)}); "
                f"leave the {tower} inputs out"
            )

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings [B, projection_dim]."""
        self._require("image")
        return nn.functional.normalize(self.image_projection(self.image_model(pixel_values)), dim=-1)

    def get_dna_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised barcode embeddings: BarcodeBERT's masked mean, projected; or with
        `dna_pooling="softmax_mean"` the published CLIBD's softmax of the projected tokens, averaged."""
        self._require("dna")
        output = self.dna_model(input_ids=input_ids, attention_mask=attention_mask)
        if self.dna_head is None:
            return nn.functional.normalize(self.dna_projection(output.pooler_output), dim=-1)
        scores = self.dna_projection(self.dna_head(output.last_hidden_state)).softmax(dim=-1)
        mask = None if self.config.dna_config.legacy_attend_to_padding else attention_mask
        return nn.functional.normalize(masked_mean(scores, mask), dim=-1)

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised taxonomy-text embeddings: the mean over real tokens (every position with
        `text_pooling="mean"`), projected."""
        self._require("text")
        hidden = self.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = masked_mean(hidden, attention_mask if self.config.text_pooling == "masked_mean" else None)
        return nn.functional.normalize(self.text_projection(pooled), dim=-1)

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        dna_input_ids: torch.Tensor | None = None,
        dna_attention_mask: torch.Tensor | None = None,
        text_input_ids: torch.Tensor | None = None,
        text_attention_mask: torch.Tensor | None = None,
        image_mask: torch.Tensor | None = None,
        dna_mask: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        return_loss: bool = False,
    ) -> ClibdOutput:
        """Embed the modalities given; their pairwise logits; the loss when `return_loss` (as CLIP, off by
        default; the trainer asks for it). Masks mark the records that have a modality (default: all)."""
        features = {}
        if pixel_values is not None:
            features["image"] = self.get_image_features(pixel_values)
        if dna_input_ids is not None:
            features["dna"] = self.get_dna_features(dna_input_ids, dna_attention_mask)
        if text_input_ids is not None:
            features["text"] = self.get_text_features(text_input_ids, text_attention_mask)
        scale = self.logit_scale()
        loss = pair_losses = None
        if return_loss and len(features) >= 2:
            given = {"image": image_mask, "dna": dna_mask, "text": text_mask}
            masks = {
                name: (
                    given[name] if given[name] is not None else torch.ones(len(f), dtype=torch.bool, device=f.device)
                )
                for name, f in features.items()
            }
            gathered = {name: gather_with_grad(f) for name, f in features.items()}
            gathered_masks = {name: gather_with_grad(m.to(torch.bool)) for name, m in masks.items()}
            loss, pair_losses = clibd_loss(gathered, gathered_masks, scale)
        logits = {
            f"{a}_{b}": scale * features[a] @ features[b].t() for a, b in PAIRS if a in features and b in features
        }
        image_dna = logits.get("image_dna")
        return ClibdOutput(
            loss=loss,
            logits_per_image=image_dna,
            logits_per_dna=None if image_dna is None else image_dna.t(),
            logits_image_text=logits.get("image_text"),
            logits_dna_text=logits.get("dna_text"),
            pair_losses=pair_losses,
            image_embeds=features.get("image"),
            dna_embeds=features.get("dna"),
            text_embeds=features.get("text"),
            logit_scale=scale,
        )
