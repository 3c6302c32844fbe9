"""Convert published BarcodeBERT checkpoints into `BarcodeBertModel` / `BarcodeBertForMaskedLM` folders.

Accepted inputs:
- the Hub repo layout: a folder with a BERT `config.json` and `model.safetensors` / `pytorch_model.bin`
  (the public model is `BertForTokenClassification`, whose token classifier served as the MLM head);
- a `.pth` / `.pt` file of the training code: a state dict, or a dict holding one under `model`,
  `state_dict` or `model_state_dict` (DDP's `module.` prefixes are removed), with the BERT config under
  `config` / `bert_config` or given separately.
Pickles are loaded with `torch.load(..., weights_only=True)`. The vocabulary is the original one
(`[MASK]`=0, `[UNK]`=1, k-mers from 2); k follows from `vocab_size = 4**k + 2`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file

from .configuration_barcodebert import BarcodeBertConfig
from .modeling_barcodebert import BarcodeBertForMaskedLM, BarcodeBertModel
from .tokenization_barcodebert import KmerTokenizerFast

#: BERT config fields carried over to `BarcodeBertConfig`.
BERT_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
)
#: Heads that the conversion drops when the target is the encoder (they are reported, not lost silently).
TOKEN_CLASSIFIER = ("classifier.weight", "classifier.bias")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class ConversionError(ValueError):
    """The checkpoint's keys or config do not fit BarcodeBERT."""


def load_checkpoint(source: str | os.PathLike, config: dict | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a state dict and its BERT config from a Hub-layout folder or a training `.pth` file."""
    source = Path(source)
    if source.is_dir():
        weights = next((source / name for name in WEIGHT_FILES if (source / name).exists()), None)
        if weights is None:
            raise FileNotFoundError(f"{source}: no {' or '.join(WEIGHT_FILES)}")
        if weights.suffix == ".safetensors":
            state = load_file(weights)
        else:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        if config is None:
            config = json.loads((source / "config.json").read_text())
    else:
        payload = torch.load(source, map_location="cpu", weights_only=True)
        state = payload
        for key in ("model", "state_dict", "model_state_dict"):
            if isinstance(payload, dict) and isinstance(payload.get(key), dict):
                state = payload[key]
                break
        if config is None and isinstance(payload, dict):
            config = payload.get("config") or payload.get("bert_config")
        if not isinstance(config, dict):
            raise ConversionError(f"{source}: no BERT config inside the file; pass it with --config config.json")
    state = {key.removeprefix("module."): value for key, value in state.items() if torch.is_tensor(value)}
    return state, config


def _k_from_vocab(vocab_size: int) -> int:
    for k in range(1, 13):
        if 4**k + 2 == vocab_size:
            return k
    raise ConversionError(f"vocab_size {vocab_size} is not 4**k + 2: not an original BarcodeBERT vocabulary")


def convert_state_dict(state: dict[str, torch.Tensor], target: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Map checkpoint keys onto the target class ('model' or 'masked_lm'); returns (state, dropped keys).

    Raises `ConversionError` naming every key it cannot map.
    """
    mapped, dropped, unknown = {}, [], []
    for key, value in state.items():
        if key.startswith("bert.pooler.") or key.endswith("position_ids"):
            dropped.append(key)  # unused: BarcodeBERT pools by masked mean; position ids are a buffer
        elif key.startswith("bert."):
            mapped[key.removeprefix("bert.") if target == "model" else key] = value
        elif key.startswith("cls.predictions.") and target == "masked_lm":
            mapped[key] = value
        elif key.startswith("cls.") or key in TOKEN_CLASSIFIER:
            dropped.append(key)
        elif key.startswith(("embeddings.", "encoder.")):  # a bare BertModel state dict
            mapped[key if target == "model" else f"bert.{key}"] = value
        else:
            unknown.append(key)
    if unknown:
        raise ConversionError(f"cannot map {len(unknown)} key(s) onto BarcodeBERT: {', '.join(sorted(unknown))}")
    if not mapped:
        raise ConversionError("the checkpoint holds no BERT encoder weights (no bert.*, embeddings.*, encoder.*)")
    return mapped, dropped


def convert_barcodebert(
    source: str | os.PathLike,
    out: str | os.PathLike,
    config: dict | None = None,
    legacy_attend_to_padding: bool = False,
) -> dict:
    """Convert a checkpoint into `out` (model + original-vocabulary tokenizer); returns a report.

    The target is `BarcodeBertForMaskedLM` when the checkpoint has a BERT MLM head, else the encoder
    `BarcodeBertModel` (the token-classification pre-training head is dropped and listed).
    """
    state, bert_config = load_checkpoint(source, config)
    k = _k_from_vocab(int(bert_config["vocab_size"]))
    fields = {name: bert_config[name] for name in BERT_FIELDS if name in bert_config}
    ours = BarcodeBertConfig(
        k_mer=k, vocab_preset="original", legacy_attend_to_padding=legacy_attend_to_padding, **fields
    )
    target = "masked_lm" if any(key.startswith("cls.predictions.decoder") for key in state) else "model"
    mapped, dropped = convert_state_dict(state, target)
    model = (BarcodeBertForMaskedLM if target == "masked_lm" else BarcodeBertModel)(ours)
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    tied = getattr(model, "_tied_weights_keys", None) or {}
    missing = [m for m in missing if not m.endswith("position_ids") and m not in tied]
    if missing or unexpected:
        raise ConversionError(f"checkpoint does not fit: missing {missing}, unexpected {unexpected}")
    model.save_pretrained(out)
    KmerTokenizerFast(k=k, preset="original").save_pretrained(out)
    return {"target": type(model).__name__, "k": k, "converted_keys": len(mapped), "dropped_keys": dropped}
