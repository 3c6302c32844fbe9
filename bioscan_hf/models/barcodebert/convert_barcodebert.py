"""Convert published BarcodeBERT checkpoints into `BarcodeBertModel` / `BarcodeBertForMaskedLM` folders.

Accepted inputs:
- the Hub repo layout: a folder with a BERT `config.json` and `model.safetensors` / `pytorch_model.bin`
  (the public model is `BertForTokenClassification`, whose token classifier served as the MLM head);
- a `.pth` / `.pt` file of the training code: a state dict, or a dict holding one under `model`,
  `state_dict` or `model_state_dict` (DDP's `module.` prefixes are removed), with the BERT config under
  `config` / `bert_config` or given separately.
Pickles are loaded with `weights_only=True` (`models.checkpoints.load_torch_file`).
The release follows from the vocabulary:
`4**k + 2` tokens (`[MASK]`=0, `[UNK]`=1, k-mers from 2: the current releases, e.g. BIOSCAN-5M's 8-4-4),
or `4**k + 3` (`[MASK]`=0, `[CLS]`=1, `[UNK]`=2: the first release's k=4/5/6 models, whose files carry no
config (it is read from the weights' shapes), and the k=5 model CLIBD starts from).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file

from bioscan_hf.core.errors import MissingFileError

from ..checkpoints import ConversionError, load_torch_file, state_dict_of, strip_prefix
from .configuration_barcodebert import BarcodeBertConfig
from .modeling_barcodebert import BarcodeBertForMaskedLM, BarcodeBertModel
from .tokenization_barcodebert import KmerTokenizerFast, special_tokens

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


def load_checkpoint(source: str | os.PathLike, config: dict | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a state dict and its BERT config from a Hub-layout folder or a training `.pth` file.

    The config is the one given, else the file's `bert_config` or `config` dict (BarcodeBERT's and BarcodeMAE's
    training code keep their options, an `argparse.Namespace`, under `config` and the BERT config under
    `bert_config`), else it is read from the weights' shapes (the first release's files carry none)."""
    source = Path(source)
    if source.is_dir():
        weights = next((source / name for name in WEIGHT_FILES if (source / name).exists()), None)
        if weights is None:
            raise MissingFileError(f"{source}: no {' or '.join(WEIGHT_FILES)}")
        state = load_file(weights) if weights.suffix == ".safetensors" else load_torch_file(weights)
        if config is None:
            config = json.loads((source / "config.json").read_text())
        return strip_prefix(state_dict_of(state, weights), "module."), config
    payload = load_torch_file(source)
    state = strip_prefix(state_dict_of(payload, source), "module.")
    if config is None and isinstance(payload, dict):
        config = next((payload[k] for k in ("bert_config", "config") if isinstance(payload.get(k), dict)), None)
    if not isinstance(config, dict):
        config = config_from_weights(state, source)
    return state, config


def config_from_weights(state: dict[str, torch.Tensor], source: str | os.PathLike) -> dict:
    """BERT config fields read from the weights' shapes, for files saved without one (the first release).

    The head count is not in the weights: the release's 12 (hidden size / 64)."""
    embeddings = state.get("bert.embeddings.word_embeddings.weight", state.get("embeddings.word_embeddings.weight"))
    if embeddings is None:
        raise ConversionError(f"{source}: no BERT config inside the file and no BERT weights to read one from")
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in state else ""
    layers = {key.split(".")[3 if prefix else 2] for key in state if key.startswith(f"{prefix}encoder.layer.")}
    return {
        "vocab_size": embeddings.shape[0],
        "hidden_size": embeddings.shape[1],
        "num_hidden_layers": len(layers),
        "num_attention_heads": max(1, embeddings.shape[1] // 64),
        "intermediate_size": state[f"{prefix}encoder.layer.0.intermediate.dense.weight"].shape[0],
        "max_position_embeddings": state[f"{prefix}embeddings.position_embeddings.weight"].shape[0],
    }


def vocabulary_of(vocab_size: int) -> tuple[int, str]:
    """(k, vocabulary preset) of a published BarcodeBERT vocabulary size: 4**k + 2 is the current release's
    `[MASK] [UNK]` vocabulary, 4**k + 3 the first release's `[MASK] [CLS] [UNK]` (also inside CLIBD)."""
    for k in range(1, 13):
        for preset in ("original", "v1"):
            if 4**k + len(special_tokens(preset)) == vocab_size:
                return k, preset
    raise ConversionError(
        f"vocab_size {vocab_size} is neither 4**k + 2 nor 4**k + 3: not a published BarcodeBERT vocabulary"
    )


def release_of(k: int, preset: str, config: dict) -> str:
    """A name for the release a checkpoint belongs to (recorded in the converted config)."""
    shape = f"{k}-{config.get('num_hidden_layers', 12)}-{config.get('num_attention_heads', 12)}"
    if preset == "v1":
        return f"BarcodeBERT v1 {shape} (first release; k=5 is the DNA tower CLIBD starts from)"
    return f"BarcodeBERT {shape}"


def convert_state_dict(state: dict[str, torch.Tensor], target: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Map checkpoint keys onto the target class ('model' or 'masked_lm'); returns (state, dropped keys).

    Raises `ConversionError` naming every key it cannot map.
    """
    mapped, dropped, unknown = {}, [], []
    for key, value in state.items():
        if key.startswith(("bert.pooler.", "pooler.")) or key.endswith("position_ids"):
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
    legacy_attend_to_padding: bool | None = None,
) -> dict:
    """Convert a checkpoint into `out` (model + matching tokenizer); returns a report.

    The release is recognised from the vocabulary (`vocabulary_of`) and recorded in the config with its
    vocabulary preset and pooling: the first release (k=4/5/6, 12 layers, and the k=5 model inside CLIBD)
    pools over all positions of its fixed 133-token inputs, as its code did (`legacy_attend_to_padding`);
    later releases (e.g. BIOSCAN-5M's 8-4-4) pool over real tokens unless `legacy_attend_to_padding=True`.
    The target is `BarcodeBertForMaskedLM` when the checkpoint has a BERT MLM head, else the encoder
    `BarcodeBertModel` (the token-classification pre-training head is dropped and listed).
    """
    state, bert_config = load_checkpoint(source, config)
    if any(key.startswith(("dna_encoder.", "image_encoder.", "language_encoder.")) for key in state):
        raise ConversionError(f"{source} is a CLIBD checkpoint: convert it with `bioscan-hf convert-clibd`")
    return save_converted(state, bert_config, out, legacy_attend_to_padding=legacy_attend_to_padding)


def save_converted(
    state: dict[str, torch.Tensor],
    bert_config: dict,
    out: str | os.PathLike,
    *,
    legacy_attend_to_padding: bool | None = None,
    release: str | None = None,
) -> dict:
    """Write a BarcodeBERT-architecture state dict and its BERT config as a model folder with the matching
    k-mer tokenizer (see `convert_barcodebert`); `release` overrides the name read from the vocabulary."""
    k, preset = vocabulary_of(int(bert_config["vocab_size"]))
    if legacy_attend_to_padding is None:
        legacy_attend_to_padding = preset == "v1"
    fields = {name: bert_config[name] for name in BERT_FIELDS if name in bert_config}
    ours = BarcodeBertConfig(
        k_mer=k,
        vocab_preset=preset,
        legacy_attend_to_padding=legacy_attend_to_padding,
        release=release or release_of(k, preset, fields),
        **fields,
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
    KmerTokenizerFast(k=k, preset=preset, max_nucleotides=ours.max_nucleotides).save_pretrained(out)
    pooling = "mean over all positions, padding included" if legacy_attend_to_padding else "mean over real tokens"
    return {
        "target": type(model).__name__,
        "k": k,
        "release": ours.release,
        "vocab_preset": preset,
        "pooling": pooling,
        "converted_keys": len(mapped),
        "dropped_keys": dropped,
    }
