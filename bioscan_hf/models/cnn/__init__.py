"""The CNN baseline (BarcodeBERT's paper, BIOSCAN-5M's Table 4), registered with the Auto classes."""

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from .configuration_cnn import BarcodeCnnConfig
from .modeling_cnn import BarcodeCnnForSequenceClassification, BarcodeCnnModel, BarcodeCnnPreTrainedModel
from .tokenization_cnn import base_tokenizer

AutoConfig.register("barcode_cnn", BarcodeCnnConfig, exist_ok=True)
AutoModel.register(BarcodeCnnConfig, BarcodeCnnModel, exist_ok=True)
AutoModelForSequenceClassification.register(BarcodeCnnConfig, BarcodeCnnForSequenceClassification, exist_ok=True)

__all__ = [
    "BarcodeCnnConfig",
    "BarcodeCnnForSequenceClassification",
    "BarcodeCnnModel",
    "BarcodeCnnPreTrainedModel",
    "base_tokenizer",
]
