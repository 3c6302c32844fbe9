"""Collators that tokenize barcodes on the fly (vectorized), so augmentation is fresh every epoch.

Their randomness (start offsets, masking) comes from a generator seeded per batch by (seed, optimizer
step, micro-batch), kept in step by `CollatorStepCallback`. `Trainer` restores its own RNG state only after
fetching the first batch of a resumed run, so global-RNG augmentation would differ there; seeded per step,
a resumed run draws the masks the uninterrupted run drew at the same step. (Its batches can still differ
after a resume: tests/training `test_resume_after_kill`, a known gap.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase, TrainerCallback

#: Masking schemes: (share of tokens masked, share of masked → [MASK], share of masked → random k-mer).
MASKING_SCHEMES = {
    "published": (0.5, 1.0, 0.0),  # BarcodeBERT / BIOSCAN-5M: 50% masked, all to [MASK]
    "bert": (0.15, 0.8, 0.1),  # the standard 80/10/10 scheme
}


def random_offsets(sequences: Sequence[str], k: int, generator: torch.Generator | None = None) -> list[str]:
    """Drop the first 0…k−1 bases of each sequence at random (BarcodeBERT's training augmentation)."""
    shifts = torch.randint(0, k, (len(sequences),), generator=generator).tolist()
    return [s[n:] for s, n in zip(sequences, shifts)]


class StepSeeded:
    """A generator per batch, seeded by (seed, optimizer step, micro-batch, dataloader worker)."""

    def __init__(self, seed: int) -> None:
        self.seed, self.step, self.micro = seed, 0, 0

    def set_step(self, step: int) -> None:
        """Called by `CollatorStepCallback` with the optimizer steps done before the next batch."""
        self.step, self.micro = step, 0

    def next_generator(self) -> torch.Generator:
        worker = torch.utils.data.get_worker_info()
        key = [self.seed, self.step, self.micro, worker.id if worker is not None else -1]
        self.micro += 1
        return torch.Generator().manual_seed(int(np.random.SeedSequence([k + 1 for k in key]).generate_state(1)[0]))


class CollatorStepCallback(TrainerCallback):
    """Keeps a step-seeded collator's step equal to the trainer's (also when resuming from a checkpoint)."""

    def __init__(self, collator: StepSeeded) -> None:
        self.collator = collator

    def on_train_begin(self, args, state, control, **kwargs):
        self.collator.set_step(state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        self.collator.set_step(state.global_step)


class BarcodeMLMCollator(StepSeeded):
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
            raise ValueError(f"unknown masking scheme {scheme!r}; choose one of {', '.join(MASKING_SCHEMES)}")
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
        generator = self.next_generator()
        sequences = [e[self.column] for e in examples]
        if self.random_offset:
            sequences = random_offsets(sequences, self.tokenizer.k, generator)
        encoded = self.tokenizer(sequences, padding=True, return_tensors="pt", return_special_tokens_mask=True)
        batch = dict(encoded)
        special = batch.pop("special_tokens_mask").bool()
        self.masker.generator = generator
        batch["input_ids"], batch["labels"] = self.masker.torch_mask_tokens(batch["input_ids"], special)
        return batch


class BarcodeClassificationCollator(StepSeeded):
    """Classification batches: barcodes tokenized (no augmentation unless asked) plus integer labels."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        label_column: str = "labels",
        random_offset: bool = False,
        seed: int = 42,
        column: str = "dna_barcode",
    ) -> None:
        super().__init__(seed)
        self.tokenizer = tokenizer
        self.label_column = label_column
        self.random_offset = random_offset
        self.column = column

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        sequences = [e[self.column] for e in examples]
        if self.random_offset:
            sequences = random_offsets(sequences, self.tokenizer.k, self.next_generator())
        batch = dict(self.tokenizer(sequences, padding=True, return_tensors="pt"))
        if self.label_column in examples[0]:
            batch["labels"] = torch.tensor([e[self.label_column] for e in examples], dtype=torch.long)
        return batch
