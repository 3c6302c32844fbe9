"""How an encoder embeds (`EncoderSettings`: pooling, remote code, device, dtype), the settings every run
that takes `--model` inherits. Importing this module imports no model."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.core.options import Settings, option

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
