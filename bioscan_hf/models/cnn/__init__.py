"""The CNN baseline (BarcodeBERT's paper, BIOSCAN-5M's Table 4), registered with the Auto classes."""

from ..registration import register
from .configuration_cnn import BarcodeCnnConfig
from .modeling_cnn import BarcodeCnnForSequenceClassification, BarcodeCnnModel, BarcodeCnnPreTrainedModel
from .tokenization_cnn import base_tokenizer

register(
    "barcode_cnn",
    BarcodeCnnConfig,
    {"AutoModel": BarcodeCnnModel, "AutoModelForSequenceClassification": BarcodeCnnForSequenceClassification},
)

__all__ = [
    "BarcodeCnnConfig",
    "BarcodeCnnForSequenceClassification",
    "BarcodeCnnModel",
    "BarcodeCnnPreTrainedModel",
    "base_tokenizer",
]
