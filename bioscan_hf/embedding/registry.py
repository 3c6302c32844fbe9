"""Encoder families, registered as timm registers models: each family says which `--model` specs it
claims (a prefix such as `kmer` or `timm`, or a saved folder's `model_type`, or a test on a transformers
config) and how to load them. `load_encoder` resolves a spec through `ENCODER_FAMILIES` in order;
`bioscan-hf models` lists them. Adding a family: its module in `bioscan_hf/embedding/` (an `Encoder`
subclass) and one line in `ENCODER_FAMILIES`.

Alignment (`align`) is a scorer, not an encoder: it has no embeddings.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace

from bioscan_hf.core.specs import SPEC_HELP, ModelSpec
from bioscan_hf.embedding.base import Encoder, EncoderError
from bioscan_hf.models.checks import foreign_code, model_location


@dataclass(frozen=True)
class LoadOptions:
    """How a spec is embedded: pooling (mean/cls for DNA models, cls/avg for image models), remote code
    (only when the user passes it), device, dtype and batch size (None: the family's default)."""

    pooling: str | None = None
    trust_remote_code: bool = False
    device: str | None = None
    dtype: str | None = None
    batch_size: int | None = None

    @property
    def sizes(self) -> dict:
        return {"batch_size": self.batch_size} if self.batch_size else {}


@dataclass(frozen=True)
class EncoderFamily:
    """One kind of encoder: `syntax` as a user writes it, what it embeds, and which specs it claims — by
    `prefix` (`kmer`, `timm`), by a saved folder's `model_type`, or by `claims(config)` on any transformers
    config (tried in `ENCODER_FAMILIES` order)."""

    name: str
    syntax: str
    embeds: str
    summary: str
    load: Callable[[ModelSpec, dict, LoadOptions], Encoder]
    prefix: str | None = None
    model_type: str | None = None
    claims: Callable[[dict], bool] | None = None


def is_vision_config(config: dict) -> bool:
    """Whether a transformers config describes an image model (or a model with a vision tower)."""
    return "num_channels" in config or "vision_config" in config


# Each loader imports its encoder's module when it runs: resolving `kmer6` imports no model family.
def _kmer(spec: ModelSpec, config: dict, options: LoadOptions) -> Encoder:
    from bioscan_hf.embedding.kmer import KmerEncoder

    return KmerEncoder(int(spec.argument), **options.sizes)


def _timm(spec: ModelSpec, config: dict, options: LoadOptions) -> Encoder:
    from bioscan_hf.embedding.images import TimmImageEncoder

    if not spec.location:
        raise EncoderError(f"{spec.text!r}: write timm:NAME or timm:NAME:WEIGHTS_FILE")
    weights, device, dtype = spec.argument or None, options.device, options.dtype
    return TimmImageEncoder(spec.location, weights, options.pooling, device=device, dtype=dtype, **options.sizes)


def _clibd(spec: ModelSpec, config: dict, options: LoadOptions) -> Encoder:
    from bioscan_hf.embedding.clibd import ClibdEncoder

    return ClibdEncoder(spec.location, device=options.device, dtype=options.dtype, **options.sizes)


def _vision(spec: ModelSpec, config: dict, options: LoadOptions) -> Encoder:
    from bioscan_hf.embedding.images import TransformersImageEncoder

    pooling, remote, device, dtype = options.pooling, options.trust_remote_code, options.device, options.dtype
    return TransformersImageEncoder(spec.location, pooling, remote, device=device, dtype=dtype, **options.sizes)


def _dna(spec: ModelSpec, config: dict, options: LoadOptions) -> Encoder:
    from bioscan_hf.embedding.dna import TransformersDnaEncoder

    pooling, remote, device, dtype = options.pooling or "mean", options.trust_remote_code, options.device, options.dtype
    return TransformersDnaEncoder(spec.location, pooling, remote, device=device, dtype=dtype, **options.sizes)


#: BarcodeMamba's default batch: on a CPU transformers' PyTorch Mamba-2 scan is fastest in small batches
#: (dim384-layer2 with characters: 12.5 barcodes/s at 2, 8.7 at 4, 6.3 at 16, 4.0 at 64, peak 1.4 → 5.8 GB;
#: bench/bench_barcode_models.py); `--batch-size` raises it on a GPU with the mamba_ssm kernels.
BARCODEMAMBA_BATCH = 4


def _barcodemamba(spec: ModelSpec, config: dict, options: LoadOptions) -> Encoder:
    return _dna(spec, config, replace(options, batch_size=options.batch_size or BARCODEMAMBA_BATCH))


#: Every encoder family, in the order specs are resolved.
ENCODER_FAMILIES: tuple[EncoderFamily, ...] = (
    EncoderFamily(
        "kmer", "kmerK", "DNA", "k-mer profiles (the paper's k-mer baseline), e.g. kmer6", _kmer, prefix="kmer"
    ),
    EncoderFamily(
        "timm",
        "timm:NAME[:WEIGHTS_FILE]",
        "images",
        "a timm image model, weights from a local file",
        _timm,
        prefix="timm",
    ),
    EncoderFamily(
        "clibd",
        "FOLDER (model_type clibd)",
        "images + DNA",
        "a CLIBD folder: image and DNA towers in one space",
        _clibd,
        model_type="clibd",
    ),
    EncoderFamily(
        "barcodebert",
        "FOLDER (model_type barcodebert)",
        "DNA",
        "a BarcodeBERT folder (pretrain, finetune, convert-barcodebert, convert-barcodemae)",
        _dna,
        model_type="barcodebert",
    ),
    EncoderFamily(
        "barcodemamba",
        "FOLDER (model_type barcodemamba)",
        "DNA",
        "a BarcodeMamba folder (convert-barcodemamba): Mamba-2, characters or k-mers",
        _barcodemamba,
        model_type="barcodemamba",
    ),
    EncoderFamily(
        "barcode_cnn",
        "FOLDER (model_type barcode_cnn)",
        "DNA",
        "the CNN baseline of Table 4 (train-cnn): its 500-d features",
        _dna,
        model_type="barcode_cnn",
    ),
    EncoderFamily(
        "hf-vision",
        "hf:PATH_OR_ID",
        "images",
        "any transformers vision model (DINO, MAE, CLIP …)",
        _vision,
        claims=is_vision_config,
    ),
    EncoderFamily(
        "hf-dna",
        "hf:PATH_OR_ID",
        "DNA",
        "any transformers DNA model (DNABERT-2, Nucleotide Transformer …)",
        _dna,
        claims=lambda config: True,
    ),
)


def family_of(spec: ModelSpec, config: dict) -> EncoderFamily:
    """The family that claims a spec (prefix first, then the folder's model_type, then its config)."""
    for family in ENCODER_FAMILIES:
        if family.prefix is not None and family.prefix == spec.prefix:
            return family
    if spec.prefix not in ("", "hf"):
        prefixes = ", ".join(f"{f.prefix}:" for f in ENCODER_FAMILIES if f.prefix and f.prefix != "kmer")
        raise EncoderError(f"{spec.text!r}: unknown prefix {spec.prefix}: (known: hf:, {prefixes}); {SPEC_HELP}")
    for family in ENCODER_FAMILIES:
        if family.model_type is not None and family.model_type == config.get("model_type"):
            return family
    return next(f for f in ENCODER_FAMILIES if f.claims is not None and f.claims(config))


def load_encoder(
    spec: str | os.PathLike | ModelSpec,
    *,
    pooling: str | None = None,
    trust_remote_code: bool = False,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
) -> Encoder:
    """The encoder a spec names (see `ENCODER_FAMILIES`). `pooling`: mean/cls for DNA models, cls/avg for
    image models; `trust_remote_code` only when the user passes it."""
    parsed = ModelSpec.parse(spec)
    options = LoadOptions(pooling, trust_remote_code, device, dtype, batch_size)
    if parsed.prefix == "align":
        raise EncoderError("--model align has no embeddings: it is a scorer for the knn task (and baselines) only")
    config: dict = {}
    if parsed.prefix in ("", "hf"):
        config = parsed.config()
        if config is None and parsed.prefix == "":
            model_location(parsed.location)  # a missing folder: the error names it
            raise EncoderError(f"{parsed.location} has no config.json: not a model folder (expected {SPEC_HELP})")
        if config is None:  # a Hub id: let transformers read its config
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(parsed.location, trust_remote_code=trust_remote_code).to_dict()
    family = family_of(parsed, config)
    if family.model_type is not None and not trust_remote_code:
        found = foreign_code(parsed.location)
        if found:
            raise EncoderError(
                f"{parsed.location} declares code of its own in its auto_map ({'; '.join(found[:3])}), which "
                f"bioscan-hf's {family.model_type} classes never run: this folder is not what bioscan-hf saved. Pass "
                "--trust-remote-code to run that code, only for a model you trust; else save or convert it again"
            )
    encoder = family.load(parsed, config, options)
    encoder.spec, encoder.pooling_option = parsed.text, pooling
    return encoder


def is_clibd_model(spec: str | os.PathLike | ModelSpec) -> bool:
    """Whether a spec names a saved CLIBD folder (its config.json says model_type clibd)."""
    config = ModelSpec.parse(spec).config()
    return config is not None and config.get("model_type") == "clibd"
