"""BarcodeMamba configuration: Mamba-2 blocks with an MLP over character or k-mer tokens of DNA barcodes.

The fields keep the names of the authors' Hydra config (`model.d_model`, `model.layer.d_state`, …;
github.com/bioscan-ml/BarcodeMamba, configs/config.yaml), whose values are the defaults here (the
"dim384-layer2-char" model). `mixer_config()` gives the `Mamba2Config` that transformers' `Mamba2Mixer`
reads, with the mixer settings `mamba_ssm.Mamba2` uses by default (one group, no projection biases, a
convolution bias, gated RMSNorm after the gate with eps 1e-5, no dt limit).
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import Mamba2Config, PreTrainedConfig

#: The published sizes (Hub bioscan-ml/BarcodeMamba: BarcodeMamba-<size>-char and -k-mer), beside the config
#: as timm registers variants. Their tokenizer (char or k-mer, and k) comes from each run's config.yaml.
PRESETS: dict[str, dict] = {
    "dim384-layer2": {"d_model": 384, "n_layer": 2, "headdim": 48},
    "dim768-layer6": {"d_model": 768, "n_layer": 6, "headdim": 64},
}
#: Special tokens of both published tokenizers, before the characters or k-mers.
SPECIAL_TOKENS = ("[MASK]", "[SEP]", "[UNK]")
CHARACTERS = ("A", "C", "G", "T", "N")


@strict
class BarcodeMambaConfig(PreTrainedConfig):
    """Configuration of BarcodeMamba (Gao & Taylor 2024, arXiv 2412.11084).

    `vocab_size` is the rows of the embedding matrix: the tokenizer's vocabulary (8 for characters,
    4**k + 3 for k-mers) rounded up to `pad_vocab_size_multiple`, as the original model does. `d_inner` is
    the MLP width (4 × d_model when unset). `tokenizer` ("char" or "k_mer") and `k_mer` say how barcodes
    were read; `max_nucleotides` is the fixed width inputs are padded to with N on the left (660).
    `release` names the published checkpoint a converted model came from.
    """

    model_type = "barcodemamba"
    attribute_map = {"hidden_size": "d_model", "num_hidden_layers": "n_layer"}  # transformers' names

    d_model: int = 384
    n_layer: int = 2
    d_inner: int | None = None
    vocab_size: int | None = None
    pad_vocab_size_multiple: int = 8
    d_state: int = 64
    d_conv: int = 4
    expand: int = 2
    headdim: int = 48
    ngroups: int = 1
    chunk_size: int = 256
    layer_norm_epsilon: float = 1e-5
    residual_in_fp32: bool = True
    embed_dropout: float = 0.1
    resid_dropout: float = 0.0
    initializer_range: float = 0.02
    tokenizer: str = "char"
    k_mer: int | None = None
    max_nucleotides: int = 660
    release: str | None = None

    def __post_init__(self, **kwargs):
        if self.tokenizer not in ("char", "k_mer"):
            raise ValueError(f"tokenizer must be 'char' or 'k_mer', got {self.tokenizer!r}")
        if self.tokenizer == "k_mer" and not self.k_mer:
            raise ValueError("a k-mer BarcodeMamba needs k_mer (the k of its tokenizer)")
        if self.d_inner is None:
            self.d_inner = 4 * self.d_model
        if self.vocab_size is None:
            tokens = len(SPECIAL_TOKENS) + (len(CHARACTERS) if self.tokenizer == "char" else 4**self.k_mer)
            self.vocab_size = -(-tokens // self.pad_vocab_size_multiple) * self.pad_vocab_size_multiple
        if (self.expand * self.d_model) % self.headdim:
            raise ValueError(f"expand × d_model ({self.expand * self.d_model}) must be a multiple of headdim")
        super().__post_init__(**kwargs)

    def mixer_config(self) -> Mamba2Config:
        """The `Mamba2Config` of the blocks' mixers (`mamba_ssm.Mamba2`'s defaults where BarcodeMamba sets none)."""
        return Mamba2Config(
            hidden_size=self.d_model,
            state_size=self.d_state,
            conv_kernel=self.d_conv,
            expand=self.expand,
            head_dim=self.headdim,
            num_heads=self.expand * self.d_model // self.headdim,
            n_groups=self.ngroups,
            use_bias=False,
            use_conv_bias=True,
            layer_norm_epsilon=1e-5,
            chunk_size=self.chunk_size,
            num_hidden_layers=self.n_layer,
            vocab_size=self.vocab_size,
        )

    @classmethod
    def from_preset(cls, preset: str = "dim384-layer2", **fields) -> BarcodeMambaConfig:
        """The config of a published size (`PRESETS`), with `fields` over it."""
        if preset not in PRESETS:
            raise ValueError(f"unknown BarcodeMamba preset {preset!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[preset], **fields})
