"""BarcodeMamba: Mamba-2 barcode encoders (character or k-mer tokens), registered with the Auto classes."""

from ..registration import register
from .configuration_barcodemamba import BarcodeMambaConfig
from .modeling_barcodemamba import (
    BarcodeMambaForCausalLM,
    BarcodeMambaForSequenceClassification,
    BarcodeMambaModel,
    BarcodeMambaPreTrainedModel,
)
from .tokenization_barcodemamba import BarcodeMambaTokenizer

register(
    "barcodemamba",
    BarcodeMambaConfig,
    {
        "AutoModel": BarcodeMambaModel,
        "AutoModelForCausalLM": BarcodeMambaForCausalLM,
        "AutoModelForSequenceClassification": BarcodeMambaForSequenceClassification,
    },
    slow_tokenizer=BarcodeMambaTokenizer,
)

__all__ = [
    "BarcodeMambaConfig",
    "BarcodeMambaForCausalLM",
    "BarcodeMambaForSequenceClassification",
    "BarcodeMambaModel",
    "BarcodeMambaPreTrainedModel",
    "BarcodeMambaTokenizer",
]
