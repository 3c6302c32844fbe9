"""Convert the published CLIBD checkpoints (Hub repo `bioscan-ml/clibd`,
`ckpt/bioscan_clip/<version>/<dataset>/<run>/best.pth`) into `ClibdModel` folders with their processor.

A checkpoint is the state dict of the original `SimpleCLIP` module (GitHub `bioscan-ml/clibd`,
`bioscanclip/model/`):
- `image_encoder.base_image_encoder.*`: a timm ViT whose classifier was reset to the shared dimension
  (`head`, with bias; the features are timm's pooled class token through that head). Every block's fused
  `attn.qkv` is wrapped by the authors' LoRA (`attn.qkv.qkv` holds the base layer; `linear_a_q/b_q` and
  `linear_a_v/b_v`, no bias, add `B·A·x` to the query and value thirds, with no scaling factor);
- `dna_encoder.base_dna_encoder.*`: BarcodeBERT k=5 as a `BertForMaskedLM` (vocabulary `<MASK> <CLS> <UNK>`
  then the k-mers) whose MLM decoder was replaced by a linear map to the shared dimension; the features
  are the softmax of that map, averaged over all 133 positions (no attention mask, padding included);
- `language_encoder.base_language_encoder.*` + `language_encoder.proj`: BERT-small (`prajjwal1/bert-small`)
  whose last hidden layer is averaged over all 20 positions, then projected;
- `logit_scale` (log of the temperature's inverse).
The DNA and text towers' query/value layers may carry the same LoRA (`.w`, `.w_a`, `.w_b`). LoRA is merged
into the base weights. DDP's `module.` prefixes and the authors' older module names are accepted. The
runs built on OpenCLIP/BioCLIP (`open_clip_model.*`) and on feature vectors (MLP encoders) are detected
and refused with a message. Every key is mapped, or listed as dropped with the reason (the unused MLM
vocabulary bias, BERT's unused pooler), or the conversion stops naming it.

The folder's processor reproduces the original inputs: images resized to 256 (shorter side) and centre
cropped to 224 without normalisation; barcodes padded with N to 660 nt, cut into 132 non-overlapping
5-mers after a leading id 0; taxonomy text "order family genus species" with BERT-small's tokenizer, padded
to 20 tokens.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig, PreTrainedTokenizerBase

from ..barcodebert.configuration_barcodebert import BarcodeBertConfig
from ..barcodebert.convert_barcodebert import vocabulary_of
from ..barcodebert.tokenization_barcodebert import KmerTokenizerFast
from ..checkpoints import ConversionError, read_state_dict
from .configuration_clibd import ClibdConfig
from .modeling_clibd import ClibdModel
from .processing_clibd import ClibdImageProcessor, ClibdProcessor, build_taxonomy_tokenizer

#: The authors' older module names (bioscanclip/util/util.py, update_checkpoint_param_names).
OLD_NAMES = {
    "LoRA_barcode_bert": "CLIBDDNAEncoder",
    "lora_barcode_bert": "base_dna_encoder",
    "LoRA_ViT_timm": "CLIBDImageEncoder",
    "lora_vit": "base_image_encoder",
    "LoRA_bert": "CLIBDLanguageEncoder",
    "lora_bert": "base_language_encoder",
}
IMAGE = "image_encoder.base_image_encoder."
DNA = "dna_encoder.base_dna_encoder."
TEXT = "language_encoder.base_language_encoder."
TEXT_PROJECTION = "language_encoder.proj."
#: The published text tower's tokenizer (a Hub id; a local copy can be given instead).
TEXT_TOKENIZER = "prajjwal1/bert-small"
#: ViTs and BERTs use 64-dimensional attention heads; the head count is not in the weights.
HEAD_DIM = 64
#: The published inputs: 660 nt of DNA, 20 text tokens, 256 → 224 px images without normalisation.
MAX_NUCLEOTIDES, TEXT_LENGTH, RESIZE, CROP = 660, 20, 256, 224
#: The LoRA down-projections (A) of the authors' two wrappers: their presence means a tower has LoRA.
LORA_DOWN = ("linear_a_q", "linear_a_v", "w_a")
_LORA_QKV = re.compile(r"^(blocks\.\d+\.attn\.qkv)\.(qkv|linear_[ab]_[qv])\.(weight|bias)$")
_LORA_LINEAR = re.compile(r"^(.*\.attention\.self\.(?:query|value))\.(w|w_a|w_b)\.(weight|bias)$")


def original_state_dict(source: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The SimpleCLIP state dict of a checkpoint file, with `module.` prefixes and old names removed."""
    state = read_state_dict(source)
    renamed = {}
    for key, value in state.items():
        for old, new in OLD_NAMES.items():
            key = key.replace(old, new)
        renamed[key] = value
    return renamed


def _check_supported(state: dict[str, torch.Tensor], source: str | os.PathLike) -> None:
    if any(key.startswith("open_clip_model.") for key in state):
        raise ConversionError(
            f"{source} is a CLIBD run built on OpenCLIP/BioCLIP (open_clip_model.* keys); converting those is "
            "not supported yet. Use a run with the ViT-B/16 + BarcodeBERT + BERT-small towers (e.g. "
            "ckpt/bioscan_clip/<version>/bioscan_5m/image_dna_text_4gpu/best.pth)."
        )
    for tower, prefix in (("image", "image_encoder."), ("dna", "dna_encoder."), ("text", "language_encoder.")):
        keys = [key for key in state if key.startswith(prefix)]
        if keys and not any(key.startswith((IMAGE, DNA, TEXT, TEXT_PROJECTION)) for key in keys):
            raise ConversionError(
                f"{source}: the {tower} encoder is not the published transformer tower ({keys[0]}, …); runs on "
                "precomputed feature vectors (MLP encoders) are not supported"
            )


def _lora_parts(tower: dict[str, torch.Tensor], pattern: re.Pattern) -> tuple[dict, dict[str, dict]]:
    """The weights outside the authors' LoRA wrappers, and those inside grouped by the wrapped layer."""
    rest, parts = {}, {}
    for key, value in tower.items():
        match = pattern.match(key)
        if match:
            parts.setdefault(match.group(1), {})[f"{match.group(2)}.{match.group(3)}"] = value
        else:
            rest[key] = value
    return rest, parts


def merge_lora_qkv(tower: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm ViT weights with the authors' qkv LoRA merged: W_q += B_q·A_q, W_v += B_v·A_v."""
    merged, parts = _lora_parts(tower, _LORA_QKV)
    for name, p in parts.items():
        weight = p["qkv.weight"].clone()
        dim = weight.shape[1]
        if "linear_a_q.weight" in p:
            weight[:dim] += p["linear_b_q.weight"] @ p["linear_a_q.weight"]
            weight[-dim:] += p["linear_b_v.weight"] @ p["linear_a_v.weight"]
        merged[f"{name}.weight"] = weight
        if "qkv.bias" in p:
            merged[f"{name}.bias"] = p["qkv.bias"]
    return merged


def merge_lora_linear(tower: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """BERT weights with the authors' query/value LoRA (`w`, `w_a`, `w_b`) merged: W += B·A."""
    merged, parts = _lora_parts(tower, _LORA_LINEAR)
    for name, p in parts.items():
        weight = p["w.weight"].clone()
        if "w_a.weight" in p:
            weight += p["w_b.weight"] @ p["w_a.weight"]
        merged[f"{name}.weight"] = weight
        if "w.bias" in p:
            merged[f"{name}.bias"] = p["w.bias"]
    return merged


def _layers(tower: dict[str, torch.Tensor], pattern: str) -> int:
    return len({m.group(1) for key in tower if (m := re.match(pattern, key))})


def _bert_fields(tower: dict[str, torch.Tensor], heads: int | None) -> dict:
    """BERT config fields read from the weights' shapes (`heads`: hidden / 64 unless given)."""
    hidden = tower["embeddings.word_embeddings.weight"].shape[1]
    return {
        "vocab_size": tower["embeddings.word_embeddings.weight"].shape[0],
        "hidden_size": hidden,
        "num_hidden_layers": _layers(tower, r"encoder\.layer\.(\d+)\."),
        "num_attention_heads": heads or max(1, hidden // HEAD_DIM),
        "intermediate_size": tower["encoder.layer.0.intermediate.dense.weight"].shape[0],
        "max_position_embeddings": tower["embeddings.position_embeddings.weight"].shape[0],
        "type_vocab_size": tower["embeddings.token_type_embeddings.weight"].shape[0],
    }


def _split(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}


def map_state_dict(
    state: dict[str, torch.Tensor], heads: dict[str, int] | None = None
) -> tuple[dict, dict[str, torch.Tensor], list[str]]:
    """Config fields, `ClibdModel` weights and the dropped keys (with reasons) of a SimpleCLIP state dict.

    Raises `ConversionError` naming every key it cannot map."""
    heads = heads or {}
    fields: dict = {
        "projection_bias": True,
        "dna_pooling": "softmax_mean",
        "text_pooling": "mean",
        "text_max_length": TEXT_LENGTH,
        "image_size": CROP,
        "towers": [],
    }
    weights: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    unknown = [key for key in state if not key.startswith((IMAGE, DNA, TEXT, TEXT_PROJECTION, "logit_scale"))]
    image = merge_lora_qkv(_split(state, IMAGE))
    if image:
        fields["towers"].append("image")
        dim = image["cls_token"].shape[-1]
        patch = image["patch_embed.proj.weight"].shape[-1]
        n_patches = image["pos_embed"].shape[1] - 1
        fields["image_size"] = int(round(n_patches**0.5)) * patch
        fields["image_model_kwargs"] = {
            "embed_dim": dim,
            "depth": _layers(image, r"blocks\.(\d+)\."),
            "num_heads": heads.get("image") or max(1, dim // HEAD_DIM),
            "patch_size": patch,
            "mlp_ratio": image["blocks.0.mlp.fc1.weight"].shape[0] / dim,
        }
        fields["image_model"] = "vit_base_patch16_224"
        fields["projection_dim"] = image["head.weight"].shape[0]
        for key, value in image.items():
            target = (
                f"image_projection.{key.removeprefix('head.')}" if key.startswith("head.") else f"image_model.{key}"
            )
            weights[target] = value
    dna = merge_lora_linear(_split(state, DNA))
    if dna:
        fields["towers"].append("dna")
        bert = _bert_fields(_split(dna, "bert."), heads.get("dna"))
        k, preset = vocabulary_of(bert["vocab_size"])
        if preset != "v1":
            raise ConversionError(
                f"the DNA tower's vocabulary has {bert['vocab_size']} tokens (a newer BarcodeBERT's); the published "
                "CLIBD's has 4**k + 3 (<MASK> <CLS> <UNK> then the k-mers). Runs with the newer BarcodeBERT, whose "
                "input pipeline the published code does not define, are not supported"
            )
        fields["dna_config"] = BarcodeBertConfig(
            k_mer=k,
            vocab_preset="v1",
            max_nucleotides=MAX_NUCLEOTIDES,
            legacy_attend_to_padding=True,
            release=f"BarcodeBERT v1 k={k} (inside the published CLIBD)",
            **bert,
        ).to_dict()
        fields["projection_dim"] = dna["cls.predictions.decoder.weight"].shape[0]
        for key, value in dna.items():
            if key.startswith("bert."):
                if key.endswith("position_ids"):
                    dropped.append(f"{DNA}{key} (a buffer)")
                else:
                    weights[f"dna_model.{key.removeprefix('bert.')}"] = value
            elif key.startswith("cls.predictions.transform."):
                weights[f"dna_head.{key.removeprefix('cls.predictions.transform.')}"] = value
            elif key.startswith("cls.predictions.decoder."):
                weights[f"dna_projection.{key.removeprefix('cls.predictions.decoder.')}"] = value
            elif key == "cls.predictions.bias":
                dropped.append(f"{DNA}{key} (the MLM vocabulary bias; unused once the decoder was replaced)")
            else:
                unknown.append(f"{DNA}{key}")
    text = merge_lora_linear(_split(state, TEXT))
    if text:
        fields["towers"].append("text")
        fields["text_config"] = BertConfig(**_bert_fields(text, heads.get("text"))).to_dict()
        for key, value in text.items():
            if key.startswith("pooler."):
                dropped.append(f"{TEXT}{key} (BERT's pooler; the published text features average the tokens)")
            elif key.endswith("position_ids"):
                dropped.append(f"{TEXT}{key} (a buffer)")
            else:
                weights[f"text_model.{key}"] = value
        for key, value in _split(state, TEXT_PROJECTION).items():
            weights[f"text_projection.{key}"] = value
    if "logit_scale" in state:
        weights["logit_scale.log_value"] = state["logit_scale"].reshape(())
    if unknown:
        raise ConversionError(f"cannot map {len(unknown)} key(s) onto ClibdModel: {', '.join(sorted(unknown))}")
    if len(fields["towers"]) < 2:
        raise ConversionError(
            f"found towers {fields['towers']}; a CLIBD checkpoint has at least two of image, dna, text"
        )
    return fields, weights, dropped


def release_name(source: str | os.PathLike) -> str:
    """`bioscan-ml/clibd:<version>/<dataset>/<run>` for a file in the published layout, else the file name."""
    parts = Path(source).parts
    if "bioscan_clip" in parts and len(parts) - parts.index("bioscan_clip") >= 5:
        start = parts.index("bioscan_clip") + 1
        return "bioscan-ml/clibd:" + "/".join(parts[start : start + 3])
    return Path(source).name


def convert_clibd(
    source: str | os.PathLike,
    out: str | os.PathLike,
    text_tokenizer: str | os.PathLike | PreTrainedTokenizerBase | None = None,
    heads: dict[str, int] | None = None,
) -> dict:
    """Convert a published CLIBD checkpoint into `out` (model + processor); returns a report.

    `text_tokenizer`: BERT-small's tokenizer (a local folder, a Hub id or a tokenizer; default
    `prajjwal1/bert-small` from the Hub); not needed for runs without the text tower. `heads`: attention
    heads per tower when they are not hidden size / 64.
    """
    state = original_state_dict(source)
    _check_supported(state, source)
    fields, weights, dropped = map_state_dict(state, heads)
    config = ClibdConfig(**fields, release=release_name(source))
    model = ClibdModel(config)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [key for key in missing if not key.endswith("position_ids")]
    if missing or unexpected:
        raise ConversionError(f"the checkpoint does not fit ClibdModel: missing {missing}, unexpected {unexpected}")
    if "text" in config.towers:
        tokenizer = text_tokenizer if text_tokenizer is not None else TEXT_TOKENIZER
        if not isinstance(tokenizer, PreTrainedTokenizerBase):
            tokenizer = AutoTokenizer.from_pretrained(tokenizer)
    else:  # no text tower: a placeholder with no words, so the processor has its three parts
        tokenizer = build_taxonomy_tokenizer([], max_length=TEXT_LENGTH)
    k = config.dna_config.k_mer
    processor = ClibdProcessor(
        ClibdImageProcessor(
            crop_size=config.image_size, resize_size=RESIZE * config.image_size // CROP, do_normalize=False
        ),
        KmerTokenizerFast(k=k, preset="v1", max_nucleotides=MAX_NUCLEOTIDES),
        tokenizer,
        dna_padding="max_length",
        text_padding="max_length",
        text_max_length=TEXT_LENGTH,
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return {
        "release": config.release,
        "towers": config.towers,
        "converted_keys": len(weights),
        "dropped_keys": dropped,
        "lora_merged": [
            tower
            for tower, prefix, pattern in (
                ("image", IMAGE, _LORA_QKV),
                ("dna", DNA, _LORA_LINEAR),
                ("text", TEXT, _LORA_LINEAR),
            )
            if any(
                (match := pattern.match(key.removeprefix(prefix))) and match.group(2) in LORA_DOWN
                for key in state
                if key.startswith(prefix)
            )
        ],
    }
