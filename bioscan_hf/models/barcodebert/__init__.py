"""BarcodeBERT: k-mer tokenizers and a BERT encoder for DNA barcodes, registered with the Auto classes."""

from ..registration import register
from .configuration_barcodebert import BarcodeBertConfig
from .modeling_barcodebert import (
    BarcodeBertForMaskedLM,
    BarcodeBertForSequenceClassification,
    BarcodeBertModel,
    BarcodeBertPreTrainedModel,
)
from .tokenization_barcodebert import KmerTokenizer, KmerTokenizerFast

# Both tokenizers by name (a saved tokenizer_config names "KmerTokenizer"); the fast one is the default. A
# saved folder carries these module files and an `auto_map` (remote_code).
register(
    "barcodebert",
    BarcodeBertConfig,
    {
        "AutoModel": BarcodeBertModel,
        "AutoModelForMaskedLM": BarcodeBertForMaskedLM,
        "AutoModelForSequenceClassification": BarcodeBertForSequenceClassification,
    },
    slow_tokenizer=KmerTokenizer,
    fast_tokenizer=KmerTokenizerFast,
    remote_code=True,
)

__all__ = [
    "BarcodeBertConfig",
    "BarcodeBertForMaskedLM",
    "BarcodeBertForSequenceClassification",
    "BarcodeBertModel",
    "BarcodeBertPreTrainedModel",
    "KmerTokenizer",
    "KmerTokenizerFast",
]
