"""Collators that tokenize barcodes on the fly (vectorized), so augmentation is fresh every epoch.

Their randomness (start offsets, masking) comes from a generator seeded per batch by (seed, epoch, the
batch's barcodes), the epoch kept by `CollatorEpochCallback`. A resumed run therefore draws for each batch
the masks the uninterrupted run drew for it: global-RNG augmentation would not (`Trainer` restores its RNG
state only after fetching the first resumed batch), and neither would a per-step seed (the data loader
collates one batch ahead, so which step a batch is collated at differs after a resume).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import torch
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase, TrainerCallback

from bioscan_hf.core.errors import InputError

#: Masking schemes: (share of tokens masked, share of masked → [MASK], share of masked → random k-mer).
MASKING_SCHEMES = {
    "published": (0.5, 1.0, 0.0),  # BarcodeBERT / BIOSCAN-5M: 50% masked, all to [MASK]
    "bert": (0.15, 0.8, 0.1),  # the standard 80/10/10 scheme
}


def random_offsets(sequences: Sequence[str], k: int, generator: torch.Generator | None = None) -> list[str]:
    """Drop the first 0…k−1 bases of each sequence at random (BarcodeBERT's training augmentation)."""
    shifts = torch.randint(0, k, (len(sequences),), generator=generator).tolist()
    return [s[n:] for s, n in zip(sequences, shifts)]


class BatchSeeded:
    """A generator per batch, seeded by (seed, epoch, the batch's contents)."""

    def __init__(self, seed: int) -> None:
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Called by `CollatorEpochCallback` when an epoch begins."""
        self.epoch = epoch

    def generator_for(self, contents: Sequence[str]) -> torch.Generator:
        """The generator of the batch made of `contents` in this epoch."""
        digest = hashlib.blake2b(digest_size=8)
        digest.update(f"{self.seed}\0{self.epoch}".encode())
        for item in contents:
            digest.update(b"\0" + item.encode())
        return torch.Generator().manual_seed(int.from_bytes(digest.digest(), "little") >> 1)


class CollatorEpochCallback(TrainerCallback):
    """Keeps a batch-seeded collator's epoch equal to the trainer's (also when resuming mid-epoch)."""

    def __init__(self, collator: BatchSeeded) -> None:
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        # state.epoch is fractional (a resumed run starts inside an epoch); epoch ends land on whole numbers
        self.collator.set_epoch(math.floor(state.epoch + 1e-6) if state.epoch else 0)


class BarcodeMLMCollator(BatchSeeded):
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
        seed: int = 42,
        column: str = "dna_barcode",
    ) -> None:
        super().__init__(seed)
        if scheme not in MASKING_SCHEMES:
            raise InputError(f"unknown masking scheme {scheme!r}; choose one of {', '.join(MASKING_SCHEMES)}")
        probability, to_mask, to_random = MASKING_SCHEMES[scheme]
        self.tokenizer = tokenizer
        self.random_offset = random_offset
        self.column = column
        self.masker = DataCollatorForLanguageModeling(  # its generator is set per batch
            tokenizer,
            mlm_probability=mlm_probability if mlm_probability is not None else probability,
            mask_replace_prob=to_mask,
            random_replace_prob=to_random,
            return_tensors="pt",
        )

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        sequences = [e[self.column] for e in examples]
        generator = self.generator_for(sequences)
        if self.random_offset:
            sequences = random_offsets(sequences, self.tokenizer.k, generator)
        encoded = self.tokenizer(sequences, padding=True, return_tensors="pt", return_special_tokens_mask=True)
        batch = dict(encoded)
        special = batch.pop("special_tokens_mask").bool()
        self.masker.generator = generator
        batch["input_ids"], batch["labels"] = self.masker.torch_mask_tokens(batch["input_ids"], special)
        return batch


class BarcodeClassificationCollator(BatchSeeded):
    """Classification batches: barcodes tokenized (no augmentation unless asked; cut at `max_length`
    tokens when given) plus integer labels."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        label_column: str = "labels",
        random_offset: bool = False,
        seed: int = 42,
        column: str = "dna_barcode",
        max_length: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.tokenizer = tokenizer
        self.label_column = label_column
        self.random_offset = random_offset
        self.column = column
        self.max_length = max_length

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        sequences = [e[self.column] for e in examples]
        if self.random_offset:
            sequences = random_offsets(sequences, self.tokenizer.k, self.generator_for(sequences))
        cut = {"truncation": True, "max_length": self.max_length} if self.max_length else {}
        batch = dict(self.tokenizer(sequences, padding=True, return_tensors="pt", **cut))
        if self.label_column in examples[0]:
            batch["labels"] = torch.tensor([e[self.label_column] for e in examples], dtype=torch.long)
        return batch
