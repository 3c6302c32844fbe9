"""The CNN's tokenizer: one id per base (A C G T N = 0–4, as the one-hot channels); anything else, gaps
included, becomes [UNK] and reaches the model as an all-zero column, as in the original baseline."""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from .modeling_cnn import BASES


def base_tokenizer(max_nucleotides: int = 660) -> PreTrainedTokenizerFast:
    """A fast tokenizer over single bases, padding with [PAD] (id 5), cutting at `max_nucleotides`."""
    vocab = {base: i for i, base in enumerate(BASES)} | {"[PAD]": len(BASES), "[UNK]": len(BASES) + 1}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", model_max_length=max_nucleotides
    )
