"""How an encoder embeds (`EncoderSettings`: pooling, remote code, device, dtype), the settings every run
that takes `--model` inherits, and what `embed` reads (`EmbedSettings`). Importing this module imports no
model."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.core.options import Settings, option

MODALITY_HELP = "what to embed from a dataset (default: barcodes when the model has a DNA tower, else photos)"
EMBEDDINGS_HELP = (
    "a Parquet file of `bioscan-hf embed` by the same --model (checked): the records it holds are read "
    "instead of embedded again; the others are embedded"
)


@dataclass(frozen=True, kw_only=True)
class EncoderSettings(Settings):
    """How --model embeds: pooling, remote code, device and dtype (`load_encoder`'s options)."""

    pooling: str | None = option(
        "DNA models: mean over real tokens (default) or cls; image models: cls (default) or avg of patches",
        None,
        choices=("mean", "cls", "avg"),
    )
    trust_remote_code: bool = option(
        "let an hf: model run the code in its folder (DNABERT-2, HyenaDNA…); only for models you trust", False
    )
    device: str | None = option("cpu, cuda, cuda:1… (default: cuda when available)", None)
    dtype: str | None = option("weights' dtype (default: as saved)", None, choices=("float32", "float16", "bfloat16"))

    def encoder_options(self) -> dict:
        """The options given, as `load_encoder` keywords."""
        options = {
            "pooling": self.pooling,
            "trust_remote_code": self.trust_remote_code or None,
            "device": self.device,
            "dtype": self.dtype,
        }
        return {k: v for k, v in options.items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class EmbedSettings(EncoderSettings):
    """What `embed_to_parquet` reads from a source and how it embeds it (`bioscan-hf embed`)."""

    split: str = option("split(s) of a prepared dataset, e.g. train,key_unseen (default test)", "test")
    config: str | None = option("dataset config (default: metadata for barcodes, cropped_256 for photos)", None)
    modality: str | None = option(MODALITY_HELP, None, choices=("dna", "image", "both"))
    skip_bad: bool = option(
        "leave unusable records and undecodable photos out and list them in OUT's .skipped.tsv", False
    )
    overwrite: bool = option("replace OUT even if it is not an embeddings file bioscan-hf wrote", False)
