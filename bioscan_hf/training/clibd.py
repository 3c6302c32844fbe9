"""CLIBD contrastive training through `Trainer` and Accelerate, with LoRA (peft) or full fine-tuning.

Reads an image config of a folder written by `bioscan-hf prepare` (default `cropped_256`): the paired
images, barcodes and taxonomy of `pretrain` + `train` (SPEC §4). A record whose image cannot be decoded
is kept for its DNA–text pair, masked out of the image pairs, and reported by processid (a warning and a
line in `OUT/undecodable_images.tsv`).

`OUT/initial` holds the model before contrastive training (the no-alignment baseline of the retrieval
table, and the base of the LoRA adapter in `OUT/adapter`); `OUT/final` the trained model with its
processor (LoRA merged), which `AutoModel.from_pretrained` opens.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import datasets
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoTokenizer, PreTrainedTokenizerBase, TrainerCallback, set_seed

from bioscan_hf.core.errors import InputError
from bioscan_hf.data.images import ImageDecodeError, decode_image
from bioscan_hf.data.prepared import load_prepared
from bioscan_hf.models.barcodebert import KmerTokenizerFast
from bioscan_hf.models.clibd import ClibdConfig, ClibdModel
from bioscan_hf.models.clibd.processing_clibd import (
    TEXT_RANKS,
    ClibdImageProcessor,
    ClibdProcessor,
    build_taxonomy_tokenizer,
    taxonomy_text,
)
from bioscan_hf.training.trainer import OneCycleTrainer, TrainingRun, train_and_save, training_arguments

logger = logging.getLogger(__name__)

TRAIN_SPLITS = ("pretrain", "train")
COLUMNS = ("processid", "dna_barcode", *TEXT_RANKS, "image")
UNDECODABLE_REPORT = "undecodable_images.tsv"

#: CLIBD's training arguments (SPEC §4: 500 per process, 15 epochs), on top of `TRAINING_DEFAULTS`.
CLIBD_RECIPE = {
    "per_device_train_batch_size": 500,
    "learning_rate": 1e-4,
    "num_train_epochs": 15,
    "train_sampling_strategy": "random",
    # JPEG decoding and augmentation in worker processes keep a GPU fed; on a CPU they would compete
    "dataloader_num_workers": 4 if torch.cuda.is_available() else 0,
}

#: LoRA targets: query/value of both BERT towers, and the fused qkv projection of each ViT block (timm
#: has no separate query/value layers, so LoRA there adapts the key projection as well).
LORA_TARGETS = (
    r"(dna_model|text_model)\.encoder\.layer\.\d+\.attention\.self\.(query|value)|image_model\.blocks\.\d+\.attn\.qkv"
)
#: Trained in full under LoRA too: they are new (projections) or tiny (temperature).
FULLY_TRAINED = ["image_projection", "dna_projection", "text_projection", "logit_scale"]


def lora_config(rank: int = 4, alpha: int | None = None, dropout: float = 0.0) -> LoraConfig:
    """LoRA of `rank` on the three towers' attention; projections and temperature trained in full."""
    return LoraConfig(
        r=rank,
        lora_alpha=alpha or 2 * rank,
        lora_dropout=dropout,
        target_modules=LORA_TARGETS,
        modules_to_save=FULLY_TRAINED,
    )


def rank_names(split: datasets.Dataset) -> dict[str, list[str]]:
    """Label names per text rank (the ClassLabel vocabularies of the prepared dataset)."""
    return {rank: split.features[rank].names for rank in TEXT_RANKS}


class ClibdCollator:
    """Rows of a prepared image config → `ClibdModel` inputs via a `ClibdProcessor`.

    Images arrive undecoded (`Image(decode=False)`) and are decoded here, so an unreadable one is
    reported and masked out instead of stopping the run; with `augment` they go through the image
    processor's training augmentation. A barcode of only N is treated as missing.
    """

    def __init__(
        self,
        processor: ClibdProcessor,
        names: dict[str, list[str]],
        use_text: bool = True,
        report: str | os.PathLike | None = None,
        augment: bool = True,
    ) -> None:
        self.processor = processor
        self.augmentation = processor.image_processor.training_transform() if augment else None
        self.names = names
        self.use_text = use_text
        self.report = Path(report) if report else None
        self.undecodable: dict[str, str] = {}

    def _image(self, example: dict):
        if example.get("image") is None:
            return None
        try:
            image = decode_image(example["image"], f"record {example['processid']}")
        except ImageDecodeError as err:
            self._report(example["processid"], str(err))
            return None
        return self.augmentation(image.convert("RGB")) if self.augmentation else image

    def _report(self, processid: str, problem: str) -> None:
        if processid in self.undecodable:
            return
        self.undecodable[processid] = problem
        logger.warning("%s; the record is left out of the image pairs", problem)
        if self.report is not None:  # appended line by line: dataloader workers and processes share the file
            with self.report.open("a") as handle:
                handle.write(f"{processid}\t{problem}\n")

    def _text(self, example: dict) -> str | None:
        labelled = {rank: example[rank] for rank in TEXT_RANKS if example[rank] is not None and example[rank] >= 0}
        return taxonomy_text({rank: self.names[rank][label] for rank, label in labelled.items()}) or None

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        images = [self._image(e) for e in examples]
        barcodes = [(e["dna_barcode"] or "").rstrip("N") or None for e in examples]
        texts = [self._text(e) for e in examples]
        batch = self.processor(images, barcodes, texts)
        if not self.use_text:
            for key in ("text_input_ids", "text_attention_mask", "text_mask"):
                batch.pop(key)
        return batch


class ClibdTrainer(OneCycleTrainer):
    """`Trainer` whose loss is CLIBD's contrastive loss; the per-pair losses are logged beside it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pair_sums: dict[str, float] = {}
        self._pair_calls = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs, return_loss=True)
        if model.training:
            for name, value in (outputs.pair_losses or {}).items():
                self._pair_sums[name] = self._pair_sums.get(name, 0.0) + float(value.detach())
            self._pair_calls += 1
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._pair_calls:
            logs.update({f"loss_{k}": round(v / self._pair_calls, 4) for k, v in self._pair_sums.items()})
            self._pair_sums, self._pair_calls = {}, 0
        super().log(logs, start_time)


def training_data(dataset_dir: str | os.PathLike, config: str = "cropped_256") -> datasets.Dataset:
    """The `pretrain` + `train` records of an image config, images left undecoded."""
    data = load_prepared(dataset_dir, config)
    if "image" not in data[next(iter(data))].features:
        raise InputError(f"config {config!r} has no images; train CLIBD on an image config such as cropped_256")
    parts = [data[s].select_columns(list(COLUMNS)) for s in TRAIN_SPLITS if s in data and data[s].num_rows]
    if not parts:
        raise InputError(f"{dataset_dir} ({config}) has no {' or '.join(TRAIN_SPLITS)} records to train on")
    return datasets.concatenate_datasets(parts).cast_column("image", datasets.Image(decode=False))


def initial_model(
    names: dict[str, list[str]],
    preset: str = "published",
    image_checkpoint: str | os.PathLike | None = None,
    dna_model: str | os.PathLike | None = None,
    text_model: str | os.PathLike | None = None,
    **config_overrides,
) -> tuple[ClibdModel, ClibdProcessor]:
    """A CLIBD before contrastive training (towers from the checkpoints given) and its processor.

    Without a BERT folder the text tower starts fresh over a word-level tokenizer of the taxonomy names.
    """
    config = ClibdConfig.from_preset(preset, **config_overrides)
    text_tokenizer: PreTrainedTokenizerBase
    if text_model:
        text_tokenizer = AutoTokenizer.from_pretrained(text_model)
    else:
        text_tokenizer = build_taxonomy_tokenizer(name for values in names.values() for name in values)
        config.text_config.vocab_size = len(text_tokenizer)
    model = ClibdModel.from_towers(config, image_checkpoint, dna_model, text_model)
    dna_tokenizer = (
        KmerTokenizerFast.from_pretrained(dna_model)
        if dna_model
        else KmerTokenizerFast(k=model.config.dna_config.k_mer)
    )
    processor = ClibdProcessor(ClibdImageProcessor(crop_size=model.config.image_size), dna_tokenizer, text_tokenizer)
    return model, processor


def train_clibd(
    dataset_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    config: str = "cropped_256",
    preset: str = "published",
    image_checkpoint: str | os.PathLike | None = None,
    dna_model: str | os.PathLike | None = None,
    text_model: str | os.PathLike | None = None,
    finetune: str = "lora",
    lora_rank: int = 4,
    use_text: bool = True,
    seed: int = 42,
    resume: bool = True,
    callbacks: list[TrainerCallback] | None = None,
    **training_overrides,
) -> TrainingRun:
    """Align images, barcodes and taxonomy text with CLIBD's contrastive loss; see the module docstring."""
    if finetune not in ("lora", "full"):
        raise InputError(f"finetune must be 'lora' or 'full', not {finetune!r}")
    output_dir = Path(output_dir)
    train = training_data(dataset_dir, config)
    args = training_arguments(output_dir, seed=seed, **{**CLIBD_RECIPE, **training_overrides})
    initial = output_dir / "initial"
    set_seed(seed)  # before the towers are drawn: a seeded run starts from the same model
    # The main process writes OUT/initial (unless resuming from it) and starts a fresh bad-image report;
    # every process then loads OUT/initial, so all start from the same weights and the LoRA base on disk
    # is exactly what was trained.
    with args.main_process_first(desc="the initial CLIBD"):
        if args.process_index == 0 and not (resume and (initial / "config.json").is_file()):
            model, processor = initial_model(rank_names(train), preset, image_checkpoint, dna_model, text_model)
            model.save_pretrained(initial)
            processor.save_pretrained(initial)
        if args.process_index == 0 and not resume:
            (output_dir / UNDECODABLE_REPORT).unlink(missing_ok=True)
        model = ClibdModel.from_pretrained(initial)
        processor = ClibdProcessor.from_pretrained(initial)
    if finetune == "lora":
        model = get_peft_model(model, lora_config(lora_rank))
        model.peft_config["default"].base_model_name_or_path = str(initial)
    report = output_dir / UNDECODABLE_REPORT
    collator = ClibdCollator(processor, rank_names(train), use_text, report=report)
    trainer = ClibdTrainer(model=model, args=args, train_dataset=train, data_collator=collator, callbacks=callbacks)
    run = train_and_save(trainer, output_dir, resume, save=False)
    if trainer.is_world_process_zero():
        save_trained(trainer.accelerator.unwrap_model(trainer.model), run)
        processor.save_pretrained(run.model_dir)
        summary = {"finetune": finetune, "lora_rank": lora_rank if finetune == "lora" else None, "seed": seed}
        # counted from the report: with dataloader workers, the collators that saw them live in other processes
        reported = {line.split("\t")[0] for line in report.read_text().splitlines()} if report.exists() else set()
        summary["undecodable_images"] = len(reported)
        (run.model_dir / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return run


def save_trained(model: ClibdModel | PeftModel, run: TrainingRun) -> None:
    """Save the trained model to `run.model_dir`; a LoRA model also saves its adapter and is merged first."""
    if isinstance(model, PeftModel):
        model.save_pretrained(run.model_dir.parent / "adapter")
        model = model.merge_and_unload()
    model.save_pretrained(run.model_dir)
