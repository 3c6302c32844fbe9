"""BarcodeMamba's two tokenizers in one class: characters (`k=None`) or non-overlapping k-mers (`k`).

What the published pipeline did (github.com/bioscan-ml/BarcodeMamba: utils/char_tokenizer.py,
utils/k_mer_tokenizer.py, utils/probing_utils.py), reproduced id for id:

- vocabulary `[MASK]`=0, `[SEP]`=1, `[UNK]`=2, then `A C G T N` (characters) or the 4**k k-mers in
  `itertools.product("ACGT")` order (k-mers); anything else, e.g. an IUPAC code or a k-mer holding `N`, is
  `[UNK]`;
- every barcode is cut to its first 660 nt or padded on the left with `N` to 660 nt, and no special
  tokens are added, so every input has the same length (660 characters, 660 // k k-mers) and
  `attention_mask` is all ones: the model reads the padding as `N`s, as it was trained to.

Before that, the package's cleaning that changes no id of the original: gaps and whitespace removed,
upper case, `U` read as `T`. `strict=True` (default) raises on text that is not DNA and on barcodes with
nothing but gaps, N or ambiguity codes (`core.barcodes.barcode_problem`, the package's one rule).
"""

from __future__ import annotations

import itertools
import logging

from transformers.tokenization_python import PythonBackend

from bioscan_hf.core.barcodes import BASES, REMOVED, UNKNOWN, barcode_problem

from .configuration_barcodemamba import CHARACTERS, SPECIAL_TOKENS

logger = logging.getLogger(__name__)

_CLEAN = str.maketrans({**dict.fromkeys(REMOVED, None), "U": "T"})


def barcodemamba_vocab(k: int | None) -> dict[str, int]:
    """Token → id of the character vocabulary (`k=None`) or of the k-mer vocabulary."""
    tokens = CHARACTERS if k is None else ("".join(p) for p in itertools.product(BASES, repeat=k))
    return {token: i for i, token in enumerate((*SPECIAL_TOKENS, *tokens))}


class BarcodeMambaTokenizer(PythonBackend):
    """Characters or k-mers of a barcode padded on the left with N to `max_nucleotides` (see module doc)."""

    vocab_files_names: dict[str, str] = {}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, k: int | None = None, max_nucleotides: int = 660, strict: bool = True, **kwargs) -> None:
        if k is not None and not 1 <= k <= 12:
            raise ValueError(f"k must be between 1 and 12 (or None for characters), got {k}")
        self.k, self.max_nucleotides, self.strict = k, max_nucleotides, strict
        self.vocab = barcodemamba_vocab(k)
        self.ids_to_tokens = list(self.vocab)
        self.truncated_count = 0
        kwargs.setdefault("mask_token", "[MASK]")
        kwargs.setdefault("sep_token", "[SEP]")
        kwargs.setdefault("unk_token", "[UNK]")
        kwargs.setdefault("pad_token", UNKNOWN if k is None else "[UNK]")  # the N of the padding
        kwargs.setdefault("padding_side", "left")
        kwargs.setdefault("model_max_length", max_nucleotides // (k or 1))
        kwargs.setdefault("special_tokens_pattern", "none")
        super().__init__(k=k, max_nucleotides=max_nucleotides, strict=strict, **kwargs)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def padded_barcode(self, text: str) -> str:
        """The barcode as the model reads it: cleaned, cut to or left-padded with N to `max_nucleotides`."""
        problem = barcode_problem(text) if self.strict else None
        if problem:
            raise ValueError(f"{problem}; pass strict=False to read any other character as [UNK]")
        cleaned = text.upper().translate(_CLEAN)
        if len(cleaned) > self.max_nucleotides:
            if not self.truncated_count:
                logger.warning(
                    "barcodes longer than %d nt are cut there, as BarcodeMamba's code did", self.max_nucleotides
                )
            self.truncated_count += 1
            return cleaned[: self.max_nucleotides]
        return UNKNOWN * (self.max_nucleotides - len(cleaned)) + cleaned

    def tokenize(self, text: str, **kwargs) -> list[str]:
        """The tokens of one barcode (no splitting on special tokens: `N` is both a base and the padding)."""
        return self._tokenize(text)

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        padded = self.padded_barcode(text)
        if self.k is None:
            return list(padded)
        return [padded[i : i + self.k] for i in range(0, len(padded) - self.k + 1, self.k)]

    def _convert_token_to_id(self, token: str) -> int:
        return self.vocab.get(token, self.vocab["[UNK]"])

    def _convert_id_to_token(self, index: int) -> str:
        return self.ids_to_tokens[index]

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        return ()  # the vocabulary follows from k: the tokenizer_config.json holds it

    def __repr__(self) -> str:
        reading = "characters" if self.k is None else f"{self.k}-mers"
        return f"BarcodeMambaTokenizer({reading}, left-padded with N to {self.max_nucleotides} nt)"


def tokenizer_for(config, **kwargs) -> BarcodeMambaTokenizer:
    """The tokenizer a `BarcodeMambaConfig` was trained with."""
    k = config.k_mer if config.tokenizer == "k_mer" else None
    return BarcodeMambaTokenizer(k=k, max_nucleotides=config.max_nucleotides, **kwargs)
