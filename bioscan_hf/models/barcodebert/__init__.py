"""BarcodeBERT: k-mer tokenizers and a BERT encoder for DNA barcodes, registered with the Auto classes."""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from .configuration_barcodebert import BarcodeBertConfig
from .modeling_barcodebert import (
    BarcodeBertForMaskedLM,
    BarcodeBertForSequenceClassification,
    BarcodeBertModel,
    BarcodeBertPreTrainedModel,
)
from .tokenization_barcodebert import KmerTokenizer, KmerTokenizerFast

AutoConfig.register("barcodebert", BarcodeBertConfig, exist_ok=True)
AutoModel.register(BarcodeBertConfig, BarcodeBertModel, exist_ok=True)
AutoModelForMaskedLM.register(BarcodeBertConfig, BarcodeBertForMaskedLM, exist_ok=True)
AutoModelForSequenceClassification.register(BarcodeBertConfig, BarcodeBertForSequenceClassification, exist_ok=True)
# Both classes by name (a saved tokenizer_config names "KmerTokenizer"); the fast one is the default.
AutoTokenizer.register(
    BarcodeBertConfig, slow_tokenizer_class=KmerTokenizer, fast_tokenizer_class=KmerTokenizerFast, exist_ok=True
)

# A saved folder carries these module files and an `auto_map`, so it also loads with
# trust_remote_code=True where bioscan-hf is not installed.
BarcodeBertConfig.register_for_auto_class()
BarcodeBertModel.register_for_auto_class("AutoModel")
BarcodeBertForMaskedLM.register_for_auto_class("AutoModelForMaskedLM")
BarcodeBertForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
KmerTokenizer.register_for_auto_class("AutoTokenizer")
KmerTokenizerFast.register_for_auto_class("AutoTokenizer")

__all__ = [
    "BarcodeBertConfig",
    "BarcodeBertForMaskedLM",
    "BarcodeBertForSequenceClassification",
    "BarcodeBertModel",
    "BarcodeBertPreTrainedModel",
    "KmerTokenizer",
    "KmerTokenizerFast",
]
