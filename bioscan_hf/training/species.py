"""Species classifiers trained through `Trainer`: fine-tuning any transformers DNA model (BarcodeBERT,
BarcodeMamba, DNABERT-2, Nucleotide Transformer … with a sequence-classification head) and the CNN
baseline of Table 4, both scored on val and test (micro and macro accuracy) and written with a run
record that `bioscan-hf tables` reads. Each model family trains with its authors' recipe.
"""

from __future__ import annotations

import json
import os

import datasets
import numpy as np
import torch
from torch.optim.lr_scheduler import StepLR
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    EarlyStoppingCallback,
    PreTrainedModel,
    Trainer,
    TrainerCallback,
    set_seed,
)

import bioscan_hf.models.auto  # noqa: F401  (registers BarcodeBERT with the Auto classes)
from bioscan_hf.core.console import SHORT_STEP_RECORDS, short_library_bars_hidden
from bioscan_hf.core.metrics import micro_macro_accuracy
from bioscan_hf.data.prepared import data_origin, load_prepared
from bioscan_hf.embedding.dna import NO_LENGTH_LIMIT
from bioscan_hf.models.checks import check_kmer_tokenizer, model_location
from bioscan_hf.models.cnn import BarcodeCnnConfig, BarcodeCnnForSequenceClassification, base_tokenizer
from bioscan_hf.training.barcodebert import with_lengths
from bioscan_hf.training.collators import BarcodeClassificationCollator, CollatorEpochCallback
from bioscan_hf.training.trainer import OneCycleTrainer, TrainingRun, train_and_save, training_arguments

#: Species fine-tuning's training arguments (BarcodeBERT's recipe: 10 epochs), on top of `TRAINING_DEFAULTS`.
FINETUNE_RECIPE = {"num_train_epochs": 10}
#: BarcodeMamba's fine-tuning recipe (github.com/bioscan-ml/BarcodeMamba: configs/config.yaml, the finetune
#: dataset config and train.py): AdamW lr 8e-4, weight decay 0.1, batch 16, gradients clipped at 1.0, a cosine
#: schedule after a 1% warm-up down to 0.1 × lr, up to 50 epochs, stopped after `BARCODEMAMBA_PATIENCE` epochs
#: without a lower val loss; the last weights are scored, as their `trainer.test(model)` does. Differences: their
#: cosine is planned over a nominal 10^9-nucleotide epoch (so it barely decays), and warms up from 1e-6, not 0.
BARCODEMAMBA_FINETUNE_RECIPE = {
    "num_train_epochs": 50,
    "per_device_train_batch_size": 16,
    "learning_rate": 8e-4,
    "weight_decay": 0.1,
    "max_grad_norm": 1.0,
    "lr_scheduler_type": "cosine_with_min_lr",
    "lr_scheduler_kwargs": {"min_lr_rate": 0.1},
    "warmup_steps": 0.01,
    "train_sampling_strategy": "random",  # every input is 660 nt: nothing to group by length
    "save_strategy": "epoch",  # a checkpoint at each early-stopping decision
    "metric_for_best_model": "eval_loss",
}
BARCODEMAMBA_PATIENCE = 3
#: The CNN baseline's published recipe: SGD lr 0.005 with momentum 0.9 (halved every 3 epochs), 12 epochs, batch 32.
CNN_RECIPE = {
    "num_train_epochs": 12,
    "per_device_train_batch_size": 32,
    "learning_rate": 0.005,
    "weight_decay": 0.0,
    "optim": "sgd",
    "optim_args": "momentum=0.9",
}


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
            with short_library_bars_hidden(len(data[split]) < SHORT_STEP_RECORDS):
                part = data[split].map(relabel, batched=True, desc=f"labelling {split}")
                out[split] = part.filter(
                    lambda b: [x >= 0 for x in b["labels"]], batched=True, desc=f"keeping {split}'s labelled"
                )
    return out, [names[s] for s in train_species]


def accuracy(prediction) -> dict[str, float]:
    """Micro and macro (mean per-class) accuracy of a classification `EvalPrediction`."""
    micro, macro = micro_macro_accuracy(np.argmax(prediction.predictions, axis=-1), prediction.label_ids)
    return {"accuracy": micro, "macro_accuracy": macro}


def _train_and_score(
    trainer_class: type[Trainer],
    model,
    tokenizer,
    data: datasets.DatasetDict,
    dataset_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    source: str,
    seed: int,
    resume: bool,
    training_overrides: dict,
    random_offset: bool,
    callbacks: tuple[TrainerCallback, ...] = (),
) -> TrainingRun:
    """Train on `train` (evaluating on val each epoch), then score val and test; write metrics.json and
    run.json beside the final model."""
    max_length = tokenizer.model_max_length if tokenizer.model_max_length < NO_LENGTH_LIMIT else None
    data = datasets.DatasetDict({split: with_lengths(part, tokenizer) for split, part in data.items()})
    overrides = {"eval_strategy": "epoch" if "val" in data else "no", **training_overrides}
    args = training_arguments(output_dir, seed=seed, **overrides)
    collator = BarcodeClassificationCollator(tokenizer, random_offset=random_offset, seed=seed, max_length=max_length)
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data.get("val"),
        data_collator=collator,
        processing_class=tokenizer,
        compute_metrics=accuracy,
        callbacks=[CollatorEpochCallback(collator), *callbacks],
    )
    run = train_and_save(trainer, output_dir, resume)
    trainer.data_collator = BarcodeClassificationCollator(tokenizer, max_length=max_length)  # no augmentation
    for callback in callbacks:  # training's own (early stopping reads eval_loss, which the scoring below renames)
        trainer.remove_callback(callback)
    for split in ("val", "test"):
        if split in data:
            run.metrics.update(trainer.evaluate(data[split], metric_key_prefix=split))
    if trainer.is_world_process_zero():
        accuracies = {k: v for k, v in run.metrics.items() if k.endswith("accuracy")}
        (run.model_dir / "metrics.json").write_text(json.dumps(accuracies, indent=2))
        record = {
            "protocol": "finetune",
            "model": source,
            "dataset": str(dataset_dir),
            "data_origin": data_origin(dataset_dir),
        }
        (run.model_dir / "run.json").write_text(json.dumps(record, indent=2))
    return run


def species_classifier(location: str, species: list[str], trust_remote_code: bool = False) -> PreTrainedModel:
    """The model at `location` with a classification head over `species`. A head the folder already has
    (a fine-tuned checkpoint) is kept only when it was trained on exactly these species, in this order;
    otherwise a new one is drawn, whatever its size, and said so: the old head's outputs mean other labels."""
    config = AutoConfig.from_pretrained(location, trust_remote_code=trust_remote_code)
    has_head = any(name.endswith("ForSequenceClassification") for name in config.architectures or ())
    old_labels = [config.id2label.get(i) for i in range(config.num_labels)] if has_head else None
    classifier = AutoModelForSequenceClassification.from_pretrained(
        location,
        trust_remote_code=trust_remote_code,
        num_labels=len(species),
        id2label=dict(enumerate(species)),
        label2id={s: i for i, s in enumerate(species)},
        ignore_mismatched_sizes=has_head,  # a head of another size is drawn again below
    )
    if has_head and old_labels != species:
        backbone = set(classifier.base_model.modules())
        for module in classifier.modules():
            if module not in backbone and module is not classifier:
                classifier._init_weights(module)
        print(
            f"{location}: its classifier head ({len(old_labels)} labels) is not for these {len(species)} species of "
            "train; a new head is trained (the folder is left as it is)"
        )
    return classifier


def finetune_species(
    dataset_dir: str | os.PathLike,
    model: str | os.PathLike,
    output_dir: str | os.PathLike,
    seed: int = 42,
    resume: bool = True,
    trust_remote_code: bool = False,
    **training_overrides,
) -> TrainingRun:
    """Fine-tune a DNA model — a BarcodeBERT or BarcodeMamba folder, or `hf:PATH_OR_ID` of any transformers
    model with a sequence-classification head — for species on train; score val and test. BarcodeMamba
    trains with its authors' recipe (`BARCODEMAMBA_FINETUNE_RECIPE`), the others with BarcodeBERT's
    (OneCycle, 10 epochs); `training_overrides` go over either."""
    data, species = species_labels(load_prepared(dataset_dir))
    location = model_location(str(model).removeprefix("hf:"))
    tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=trust_remote_code)
    set_seed(seed)  # the new classifier head is drawn here
    classifier = species_classifier(location, species, trust_remote_code)
    config = classifier.config
    kmer = config.model_type == "barcodebert"
    if kmer:
        check_kmer_tokenizer(config, tokenizer, location)
    if hasattr(config, "pad_token_id") and config.pad_token_id is None and tokenizer.pad_token_id is not None:
        config.pad_token_id = tokenizer.pad_token_id  # models that pool at the last real token
    if config.model_type == "barcodemamba":
        trainer_class, recipe = Trainer, BARCODEMAMBA_FINETUNE_RECIPE
        callbacks = (EarlyStoppingCallback(BARCODEMAMBA_PATIENCE),) if "val" in data else ()
    else:
        trainer_class, recipe, callbacks = OneCycleTrainer, FINETUNE_RECIPE, ()
    overrides = {**recipe, **training_overrides}
    return _train_and_score(
        trainer_class,
        classifier,
        tokenizer,
        data,
        dataset_dir,
        output_dir,
        str(model),
        seed,
        resume,
        overrides,
        kmer,
        callbacks,
    )


class StepDecayTrainer(Trainer):
    """`Trainer` whose learning rate halves every `decay_epochs` epochs (the CNN baseline's StepLR)."""

    decay_epochs = 3

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None):
        if self.lr_scheduler is None:
            steps_per_epoch = max(1, len(self.get_train_dataloader()) // self.args.gradient_accumulation_steps)
            self.lr_scheduler = StepLR(
                optimizer or self.optimizer, step_size=self.decay_epochs * steps_per_epoch, gamma=0.5
            )
        return self.lr_scheduler


def train_cnn(
    dataset_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    seed: int = 42,
    resume: bool = True,
    **training_overrides,
) -> TrainingRun:
    """Train the CNN baseline for species on train with its published recipe (SGD lr 0.005, momentum 0.9,
    the rate halved every 3 epochs, 12 epochs, batch 32); score val and test. Its 500-d features serve
    the 1-NN probe: `bioscan-hf evaluate knn --model OUT/final`."""
    data, species = species_labels(load_prepared(dataset_dir))
    tokenizer = base_tokenizer()
    set_seed(seed)  # before the weights are drawn
    config = BarcodeCnnConfig(
        num_labels=len(species), id2label=dict(enumerate(species)), label2id={s: i for i, s in enumerate(species)}
    )
    model = BarcodeCnnForSequenceClassification(config)
    overrides = {**CNN_RECIPE, **training_overrides}
    return _train_and_score(
        StepDecayTrainer, model, tokenizer, data, dataset_dir, output_dir, "cnn", seed, resume, overrides, False
    )
