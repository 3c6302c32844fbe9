"""BarcodeBERT pre-training (masked k-mers) and species fine-tuning, through `Trainer` and Accelerate.

Both read a dataset folder written by `bioscan-hf prepare` (the `metadata` config), run under plain
`python` or `accelerate launch` (data parallel, any number of processes), batch barcodes of similar
length together (`train_sampling_strategy="group_by_length"`), and resume from the last checkpoint.
"""

from __future__ import annotations

import os

import datasets
from transformers import set_seed

from bioscan_hf.core.console import SHORT_STEP_RECORDS, short_library_bars_hidden
from bioscan_hf.core.errors import InputError
from bioscan_hf.data.prepared import load_prepared
from bioscan_hf.models.barcodebert import (
    BarcodeBertConfig,
    BarcodeBertForMaskedLM,
    KmerTokenizerFast,
)
from bioscan_hf.training.collators import BarcodeMLMCollator, CollatorEpochCallback
from bioscan_hf.training.trainer import OneCycleTrainer, TrainingRun, train_and_save, training_arguments

PRETRAIN_SPLITS = ("pretrain", "other_heldout")


def unique_barcodes(data: datasets.DatasetDict, splits=PRETRAIN_SPLITS) -> datasets.Dataset:
    """Distinct barcodes of `splits`, trailing N stripped (the published pre-training set)."""
    seen: dict[str, None] = {}
    for split in splits:
        if split in data:
            for barcode in data[split]["dna_barcode"]:
                barcode = barcode.rstrip("N")
                if barcode:
                    seen.setdefault(barcode)
    if not seen:
        raise InputError(f"no barcodes in split(s) {', '.join(splits)}")
    return datasets.Dataset.from_dict({"dna_barcode": list(seen)})


def with_lengths(dataset: datasets.Dataset, tokenizer: KmerTokenizerFast) -> datasets.Dataset:
    """Add the token count per barcode (vectorized), used to batch barcodes of similar length."""

    def lengths(batch: dict) -> dict:
        return {"length": tokenizer(batch["dna_barcode"], return_length=True, return_attention_mask=False)["length"]}

    with short_library_bars_hidden(len(dataset) < SHORT_STEP_RECORDS):
        return dataset.map(lengths, batched=True, batch_size=4096, desc="measuring barcode lengths")


def pretrain_barcodebert(
    dataset_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    config: BarcodeBertConfig | None = None,
    scheme: str = "published",
    seed: int = 42,
    resume: bool = True,
    **training_overrides,
) -> TrainingRun:
    """Pre-train BarcodeBERT by masked k-mer modelling on unique pretrain + other_heldout barcodes.

    `config`: the encoder's size (default: the published 8-4-4; `BarcodeBertConfig.from_preset` names the
    others). The final model and tokenizer go to `output_dir/final` (`AutoModel.from_pretrained` opens it).
    """
    config = config or BarcodeBertConfig()
    tokenizer = KmerTokenizerFast(k=config.k_mer)
    data = load_prepared(dataset_dir)
    train = with_lengths(unique_barcodes(data), tokenizer)
    set_seed(seed)  # before the weights are drawn: a seeded run starts from the same model
    model = BarcodeBertForMaskedLM(config)
    args = training_arguments(output_dir, seed=seed, **training_overrides)
    collator = BarcodeMLMCollator(tokenizer, scheme=scheme, seed=seed)
    trainer = OneCycleTrainer(
        model=model,
        args=args,
        train_dataset=train,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[CollatorEpochCallback(collator)],
    )
    return train_and_save(trainer, output_dir, resume)
