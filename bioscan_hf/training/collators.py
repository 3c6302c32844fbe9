"""Collators that tokenize barcodes on the fly (vectorized), so augmentation is fresh every epoch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

#: Masking schemes: (share of tokens masked, share of masked → [MASK], share of masked → random k-mer).
MASKING_SCHEMES = {
    "published": (0.5, 1.0, 0.0),  # BarcodeBERT / BIOSCAN-5M: 50% masked, all to [MASK]
    "bert": (0.15, 0.8, 0.1),  # the standard 80/10/10 scheme
}


def random_offsets(sequences: Sequence[str], k: int, rng: np.random.Generator) -> list[str]:
    """Drop the first 0…k−1 bases of each sequence at random (BarcodeBERT's training augmentation)."""
    shifts = rng.integers(0, k, size=len(sequences))
    return [s[int(n) :] for s, n in zip(sequences, shifts)]


class BarcodeMLMCollator:
    """Masked-language-modelling batches from examples holding a `dna_barcode` string.

    Tokenizes with the vectorized k-mer encoder (random start offset when `random_offset`), pads to the
    longest barcode of the batch, then masks with transformers' `DataCollatorForLanguageModeling`.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        scheme: str = "published",
        mlm_probability: float | None = None,
        random_offset: bool = True,
        seed: int | None = None,
        column: str = "dna_barcode",
    ) -> None:
        if scheme not in MASKING_SCHEMES:
            raise ValueError(f"unknown masking scheme {scheme!r}; choose one of {', '.join(MASKING_SCHEMES)}")
        probability, to_mask, to_random = MASKING_SCHEMES[scheme]
        self.tokenizer = tokenizer
        self.random_offset = random_offset
        self.column = column
        self.rng = np.random.default_rng(seed)
        self.masker = DataCollatorForLanguageModeling(
            tokenizer,
            mlm_probability=mlm_probability if mlm_probability is not None else probability,
            mask_replace_prob=to_mask,
            random_replace_prob=to_random,
            seed=seed,
            return_tensors="pt",
        )

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        sequences = [e[self.column] for e in examples]
        if self.random_offset:
            sequences = random_offsets(sequences, self.tokenizer.k, self.rng)
        encoded = self.tokenizer(sequences, padding=True, return_tensors="pt", return_special_tokens_mask=True)
        batch = dict(encoded)
        special = batch.pop("special_tokens_mask").bool()
        batch["input_ids"], batch["labels"] = self.masker.torch_mask_tokens(batch["input_ids"], special)
        return batch


class BarcodeClassificationCollator:
    """Classification batches: barcodes tokenized (no augmentation unless asked) plus integer labels."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        label_column: str = "labels",
        random_offset: bool = False,
        seed: int | None = None,
        column: str = "dna_barcode",
    ) -> None:
        self.tokenizer = tokenizer
        self.label_column = label_column
        self.random_offset = random_offset
        self.column = column
        self.rng = np.random.default_rng(seed)

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        sequences = [e[self.column] for e in examples]
        if self.random_offset:
            sequences = random_offsets(sequences, self.tokenizer.k, self.rng)
        batch = dict(self.tokenizer(sequences, padding=True, return_tensors="pt"))
        if self.label_column in examples[0]:
            batch["labels"] = torch.tensor([e[self.label_column] for e in examples], dtype=torch.long)
        return batch
