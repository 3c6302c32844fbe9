"""One spec string picks an encoder on every command (`--model`):

- a folder saved by this toolkit: a BarcodeBERT (DNA) or a CLIBD (image and DNA), read from its config;
- `hf:PATH_OR_ID`: any transformers model, DNA (it has a tokenizer) or vision (its config has image
  channels), e.g. DNABERT-2, Nucleotide Transformer, DINO, MAE, CLIP;
- `timm:NAME[:WEIGHTS]`: a timm image model, weights from a local file;
- `kmerK` (e.g. `kmer6`): k-mer profiles.

Alignment (`align`) is a scorer, not an encoder: it has no embeddings.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from bioscan_hf.embedding.base import Encoder, EncoderError

_KMER = re.compile(r"^kmer(\d+)$")
SPEC_HELP = "a BarcodeBERT or CLIBD folder, hf:PATH_OR_ID, timm:NAME[:WEIGHTS] or kmerK (e.g. kmer6)"


def is_clibd_model(path: str | os.PathLike) -> bool:
    """Whether `path` is a saved CLIBD folder (its config.json says model_type clibd)."""
    config = _local_config(os.fspath(path))
    return config is not None and config.get("model_type") == "clibd"


def is_vision_config(config: dict) -> bool:
    """Whether a transformers config describes an image model (or a model with a vision tower)."""
    return "num_channels" in config or "vision_config" in config


def _local_config(location: str) -> dict | None:
    config = Path(os.path.expanduser(location)) / "config.json"
    return json.loads(config.read_text()) if config.is_file() else None


def load_encoder(
    spec: str | os.PathLike,
    *,
    pooling: str | None = None,
    trust_remote_code: bool = False,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
) -> Encoder:
    """The encoder a spec names (see the module docstring). `pooling`: mean/cls for DNA models,
    cls/avg for image models; `trust_remote_code` only when the user passes it."""
    encoder = _load_encoder(os.fspath(spec), pooling, trust_remote_code, device, dtype, batch_size)
    encoder.spec, encoder.pooling_option = os.fspath(spec), pooling
    return encoder


def _load_encoder(
    text: str,
    pooling: str | None,
    trust_remote_code: bool,
    device: str | None,
    dtype: str | None,
    batch_size: int | None,
) -> Encoder:
    from bioscan_hf.embedding.clibd import ClibdEncoder
    from bioscan_hf.embedding.dna import TransformersDnaEncoder
    from bioscan_hf.embedding.images import TimmImageEncoder, TransformersImageEncoder
    from bioscan_hf.embedding.kmer import KmerEncoder

    sizes = {"batch_size": batch_size} if batch_size else {}
    if text == "align":
        raise EncoderError("--model align has no embeddings: it is a scorer for the knn task (and baselines) only")
    if match := _KMER.match(text):
        return KmerEncoder(int(match.group(1)), **sizes)
    if text.startswith("timm:"):
        name, _, weights = text[len("timm:") :].partition(":")
        if not name:
            raise EncoderError(f"{text!r}: write timm:NAME or timm:NAME:WEIGHTS_FILE")
        return TimmImageEncoder(name, weights or None, pooling, device=device, dtype=dtype, **sizes)
    location = text[len("hf:") :] if text.startswith("hf:") else text
    config = _local_config(location)
    if config is None and not text.startswith("hf:"):
        from bioscan_hf.models.checks import model_location

        model_location(location)  # a missing folder: the error names it
        raise EncoderError(f"{location} has no config.json: not a model folder (expected {SPEC_HELP})")
    if config is None:  # a Hub id: let transformers read its config
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(location, trust_remote_code=trust_remote_code).to_dict()
    if config.get("model_type") == "clibd":
        return ClibdEncoder(location, device=device, dtype=dtype, **sizes)
    if is_vision_config(config):
        return TransformersImageEncoder(location, pooling, trust_remote_code, device=device, dtype=dtype, **sizes)
    return TransformersDnaEncoder(location, pooling or "mean", trust_remote_code, device=device, dtype=dtype, **sizes)
