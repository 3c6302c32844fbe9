"""BarcodeBERT pre-training (masked k-mers) and species fine-tuning, through `Trainer` and Accelerate.

Both read a dataset folder written by `bioscan-hf prepare` (the `metadata` config), run under plain
`python` or `accelerate launch` (data parallel, any number of processes), batch barcodes of similar
length together (`train_sampling_strategy="group_by_length"`), and resume from the last checkpoint.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import datasets
import numpy as np
from transformers import set_seed

from bioscan_hf.data.prepared import data_origin, load_prepared
from bioscan_hf.models.barcodebert import (
    BarcodeBertConfig,
    BarcodeBertForMaskedLM,
    BarcodeBertForSequenceClassification,
    KmerTokenizerFast,
)
from bioscan_hf.models.checks import check_kmer_tokenizer, model_location
from bioscan_hf.training.collators import BarcodeClassificationCollator, BarcodeMLMCollator, CollatorEpochCallback
from bioscan_hf.training.trainer import OneCycleTrainer, TrainingRun, train_and_save, training_arguments

PRETRAIN_SPLITS = ("pretrain", "other_heldout")


@dataclass
class ModelShape:
    """The encoder's size (defaults: the published 8-4-4 BarcodeBERT)."""

    k: int = 8
    hidden_size: int = 768
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int | None = None

    def config(self, **extra) -> BarcodeBertConfig:
        """A `BarcodeBertConfig` of this shape."""
        return BarcodeBertConfig(
            k_mer=self.k,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size or 4 * self.hidden_size,
            **extra,
        )


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
        raise ValueError(f"no barcodes in split(s) {', '.join(splits)}")
    return datasets.Dataset.from_dict({"dna_barcode": list(seen)})


def with_lengths(dataset: datasets.Dataset, tokenizer: KmerTokenizerFast) -> datasets.Dataset:
    """Add the token count per barcode (vectorized), used to batch barcodes of similar length."""

    def lengths(batch: dict) -> dict:
        return {"length": tokenizer(batch["dna_barcode"], return_length=True, return_attention_mask=False)["length"]}

    return dataset.map(lengths, batched=True, batch_size=4096, desc="measuring barcode lengths")


def pretrain_barcodebert(
    dataset_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    shape: ModelShape | None = None,
    scheme: str = "published",
    seed: int = 42,
    resume: bool = True,
    **training_overrides,
) -> TrainingRun:
    """Pre-train BarcodeBERT by masked k-mer modelling on unique pretrain + other_heldout barcodes.

    The final model and tokenizer go to `output_dir/final` (`AutoModel.from_pretrained` opens it).
    """
    shape = shape or ModelShape()
    tokenizer = KmerTokenizerFast(k=shape.k)
    data = load_prepared(dataset_dir)
    train = with_lengths(unique_barcodes(data), tokenizer)
    set_seed(seed)  # before the weights are drawn: a seeded run starts from the same model
    model = BarcodeBertForMaskedLM(shape.config())
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


def species_labels(data: datasets.DatasetDict) -> tuple[datasets.DatasetDict, list[str]]:
    """Keep labelled records of train/val/test and map species to contiguous ids over train's species."""
    names = data["train"].features["species"].names
    train_species = sorted(set(data["train"]["species"]) - {-1})
    index = {s: i for i, s in enumerate(train_species)}

    def relabel(batch: dict) -> dict:
        return {"labels": [index.get(s, -1) for s in batch["species"]]}

    out = datasets.DatasetDict()
    for split in ("train", "val", "test"):
        if split in data:
            part = data[split].map(relabel, batched=True, desc=f"labelling {split}")
            out[split] = part.filter(lambda b: [x >= 0 for x in b["labels"]], batched=True)
    return out, [names[s] for s in train_species]


def accuracy(prediction) -> dict[str, float]:
    """Micro and macro (mean per-class) accuracy of a classification `EvalPrediction`."""
    predicted = np.argmax(prediction.predictions, axis=-1)
    labels = prediction.label_ids
    per_class = [np.mean(predicted[labels == c] == c) for c in np.unique(labels)]
    return {"accuracy": float(np.mean(predicted == labels)), "macro_accuracy": float(np.mean(per_class))}


def finetune_barcodebert(
    dataset_dir: str | os.PathLike,
    model_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    seed: int = 42,
    resume: bool = True,
    **training_overrides,
) -> TrainingRun:
    """Fine-tune a (pre-trained) BarcodeBERT for species classification on train; evaluate on val and test."""
    data, species = species_labels(load_prepared(dataset_dir))
    model_path = model_location(model_path)
    tokenizer = KmerTokenizerFast.from_pretrained(model_path)
    set_seed(seed)  # the new classifier head is drawn here
    model = BarcodeBertForSequenceClassification.from_pretrained(
        model_path,
        num_labels=len(species),
        id2label=dict(enumerate(species)),
        label2id={s: i for i, s in enumerate(species)},
    )
    check_kmer_tokenizer(model.config, tokenizer, model_path)
    data = datasets.DatasetDict({split: with_lengths(part, tokenizer) for split, part in data.items()})
    overrides = {"num_train_epochs": 10, "eval_strategy": "epoch" if "val" in data else "no", **training_overrides}
    args = training_arguments(output_dir, seed=seed, **overrides)
    collator = BarcodeClassificationCollator(tokenizer, random_offset=True, seed=seed)
    trainer = OneCycleTrainer(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data.get("val"),
        data_collator=collator,
        processing_class=tokenizer,
        compute_metrics=accuracy,
        callbacks=[CollatorEpochCallback(collator)],
    )
    run = train_and_save(trainer, output_dir, resume)
    trainer.data_collator = BarcodeClassificationCollator(tokenizer)  # no augmentation at evaluation
    for split in ("val", "test"):
        if split in data:
            run.metrics.update(trainer.evaluate(data[split], metric_key_prefix=split))
    if trainer.is_world_process_zero():
        accuracies = {k: v for k, v in run.metrics.items() if k.endswith("accuracy")}
        (run.model_dir / "metrics.json").write_text(json.dumps(accuracies, indent=2))
        record = {
            "protocol": "finetune",
            "model": str(model_path),
            "dataset": str(dataset_dir),
            "data_origin": data_origin(dataset_dir),
        }
        (run.model_dir / "run.json").write_text(json.dumps(record, indent=2))
    return run
