"""One `ClibdTrainer` step of a tiny `ClibdModel` on a fixed global batch of 8 records, some missing their
image, barcode or taxonomy; writes the loss, the pair losses and the gradients before the optimizer step.

Run by tests/training/test_clibd_distributed.py (tests/ on PYTHONPATH) as `python clibd_one_step.py OUT` (one process,
batch 8) and under `accelerate launch` with 2 processes (4 records each): the results must be equal.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import datasets
import numpy as np
import torch
from helpers import TINY_CLIBD
from PIL import Image
from transformers import TrainerCallback, set_seed

from bioscan_hf.models.barcodebert import KmerTokenizerFast
from bioscan_hf.models.clibd import ClibdConfig, ClibdModel
from bioscan_hf.models.clibd.processing_clibd import (
    TEXT_RANKS,
    ClibdImageProcessor,
    ClibdProcessor,
    build_taxonomy_tokenizer,
)
from bioscan_hf.training.clibd import ClibdCollator, ClibdTrainer
from bioscan_hf.training.trainer import training_arguments

GLOBAL_BATCH = 8
NAMES = {rank: [f"{rank}_{i}" for i in range(4)] for rank in TEXT_RANKS}
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


def records() -> datasets.Dataset:
    """8 records: #1 has no image, #4 a barcode of only N, #6 no taxonomy (the rest complete)."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(GLOBAL_BATCH):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(buffer, format="PNG")
        rows.append(
            {
                "processid": f"P{i}",
                "dna_barcode": "N" * 30 if i == 4 else "".join(rng.choice(list("ACGT"), 60 + 7 * i)),
                **{rank: -1 if i == 6 else int(rng.integers(0, 4)) for rank in TEXT_RANKS},
                "image": None if i == 1 else {"bytes": buffer.getvalue(), "path": None},
            }
        )
    return datasets.Dataset.from_list(rows)


class Recorder(TrainerCallback):
    """Keeps the gradients as the optimizer is about to step (after DDP's all-reduce, before clipping)."""

    def __init__(self) -> None:
        self.gradients: dict[str, torch.Tensor] = {}

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.gradients = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


class RecordingTrainer(ClibdTrainer):
    """`ClibdTrainer` that also keeps the last loss and pair losses it computed."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True)
        self.recorded = {"loss": loss.detach(), **{k: v.detach() for k, v in outputs.pair_losses.items()}}
        return (loss, outputs) if return_outputs else loss


def main(out: str) -> None:
    text_tokenizer = build_taxonomy_tokenizer(n for names in NAMES.values() for n in names)
    settings = {
        **TINY_CLIBD,
        "dna_config": {**TINY_CLIBD["dna_config"], **NO_DROPOUT},
        "text_config": {**TINY_CLIBD["text_config"], **NO_DROPOUT, "vocab_size": len(text_tokenizer)},
    }
    set_seed(0)
    model = ClibdModel(ClibdConfig(**settings))
    processor = ClibdProcessor(
        ClibdImageProcessor(crop_size=settings["image_size"]), KmerTokenizerFast(k=4), text_tokenizer
    )
    args = training_arguments(
        Path(out) / "run",
        per_device_train_batch_size=GLOBAL_BATCH // int(os.environ.get("WORLD_SIZE", "1")),
        max_steps=1,
        max_grad_norm=0.0,
        train_sampling_strategy="sequential",
        save_strategy="no",
        logging_steps=1,
    )
    recorder = Recorder()
    trainer = RecordingTrainer(
        model=model,
        args=args,
        train_dataset=records(),
        data_collator=ClibdCollator(processor, NAMES, augment=False),
        callbacks=[recorder],
    )
    trainer.train()
    torch.save(
        {"losses": trainer.recorded, "gradients": recorder.gradients, "world_size": args.world_size},
        Path(out) / f"rank{args.process_index}.pt",
    )


if __name__ == "__main__":
    main(sys.argv[1])
