"""BarcodeBERT configuration: a BERT encoder over non-overlapping DNA k-mers."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import BertConfig

#: Size presets beside the config, named k-layers-heads as the papers name them (hidden size 768, feed-forward
#: 4 × hidden, unless said): BIOSCAN-5M's 8-4-4 (the defaults), CANADA-1.5M's 4-4-4, the first release's
#: 12-layer models, and "small" (the demo's: CPU minutes). `BarcodeBertConfig.from_preset(name, **fields)`.
PRESETS: dict[str, dict] = {
    "8-4-4": {},
    "4-4-4": {"k_mer": 4},
    "4-12-12": {"k_mer": 4, "num_hidden_layers": 12, "num_attention_heads": 12},
    "5-12-12": {"k_mer": 5, "num_hidden_layers": 12, "num_attention_heads": 12},
    "6-12-12": {"k_mer": 6, "num_hidden_layers": 12, "num_attention_heads": 12},
    "small": {
        "k_mer": 4,
        "hidden_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 512,
    },
}

#: Special tokens per vocabulary preset (the tokenizer module holds the same table).
N_SPECIAL_TOKENS = {"clean": 5, "original": 2, "v1": 3}
#: The padding token per preset: clean [PAD]=0; original and v1 pad with [UNK] (their [MASK]=0 must not
#: double as padding).
PAD_TOKEN_IDS = {"clean": 0, "original": 1, "v1": 2}


@strict
class BarcodeBertConfig(BertConfig):
    """Configuration of BarcodeBERT; defaults are BIOSCAN-5M's best model, "8-4-4" (SPEC §2).

    Fields are named as in `BertConfig` (`hidden_size`, `num_hidden_layers`, …) plus the k-mer settings:
    `k_mer`, `stride` (default k), `max_nucleotides`, `vocab_preset` ("clean", "original" or "v1", see
    the tokenizer); `release` names the published checkpoint a converted model came from. `vocab_size`
    and `pad_token_id` follow from the preset when left unset.
    `legacy_attend_to_padding=True` reproduces the original code's flaw (no attention mask, padding
    averaged into the embedding) for checkpoints whose numbers depend on it.
    `sparse_prediction=True` makes the masked-LM head score only the masked positions when labels are
    given (the same loss at half the cost with 50% masking; `logits` then has one row per masked token).
    """

    model_type = "barcodebert"

    k_mer: int = 8
    stride: int | None = None
    max_nucleotides: int = 660
    vocab_preset: str = "clean"
    vocab_size: int | None = None
    hidden_size: int = 768
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 3072
    pad_token_id: int | None = None
    legacy_attend_to_padding: bool = False
    release: str | None = None
    sparse_prediction: bool = True

    def __post_init__(self, **kwargs):
        if self.vocab_preset not in N_SPECIAL_TOKENS:
            raise ValueError(f"vocab_preset must be one of {', '.join(N_SPECIAL_TOKENS)}, got {self.vocab_preset!r}")
        if self.stride is None:
            self.stride = self.k_mer
        if self.vocab_size is None:
            self.vocab_size = 4**self.k_mer + N_SPECIAL_TOKENS[self.vocab_preset]
        if self.pad_token_id is None:
            self.pad_token_id = PAD_TOKEN_IDS[self.vocab_preset]
        super().__post_init__(**kwargs)

    @classmethod
    def from_preset(cls, preset: str = "8-4-4", **fields) -> BarcodeBertConfig:
        """The config of a named size (`PRESETS`), with `fields` over it; a hidden size given without a
        feed-forward size gets 4 × hidden, as every preset has."""
        if preset not in PRESETS:
            raise ValueError(f"unknown BarcodeBERT preset {preset!r}; choose one of {', '.join(PRESETS)}")
        values = {**PRESETS[preset], **fields}
        if "hidden_size" in fields and "intermediate_size" not in fields:
            values["intermediate_size"] = 4 * values["hidden_size"]
        return cls(**values)
