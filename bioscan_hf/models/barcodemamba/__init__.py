"""BarcodeMamba: Mamba-2 barcode encoders (character or k-mer tokens), registered with the Auto classes."""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from .configuration_barcodemamba import BarcodeMambaConfig
from .modeling_barcodemamba import (
    BarcodeMambaForCausalLM,
    BarcodeMambaForSequenceClassification,
    BarcodeMambaModel,
    BarcodeMambaPreTrainedModel,
)
from .tokenization_barcodemamba import BarcodeMambaTokenizer

AutoConfig.register("barcodemamba", BarcodeMambaConfig, exist_ok=True)
AutoModel.register(BarcodeMambaConfig, BarcodeMambaModel, exist_ok=True)
AutoModelForCausalLM.register(BarcodeMambaConfig, BarcodeMambaForCausalLM, exist_ok=True)
AutoModelForSequenceClassification.register(BarcodeMambaConfig, BarcodeMambaForSequenceClassification, exist_ok=True)
AutoTokenizer.register(BarcodeMambaConfig, slow_tokenizer_class=BarcodeMambaTokenizer, exist_ok=True)

__all__ = [
    "BarcodeMambaConfig",
    "BarcodeMambaForCausalLM",
    "BarcodeMambaForSequenceClassification",
    "BarcodeMambaModel",
    "BarcodeMambaPreTrainedModel",
    "BarcodeMambaTokenizer",
]
