"""Training commands: `pretrain`, `finetune`, `train-cnn`, `train-clibd`. Each is parsed by its
HfArgumentParser over the command's options and every `TrainingArguments` field
(`bioscan_hf.training.arguments`: aliases, `--config-file`, the recipes' defaults)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from bioscan_hf.commands.common import Command
from bioscan_hf.core.console import configure_output
from bioscan_hf.core.paths import runnable
from bioscan_hf.training import arguments
from bioscan_hf.training.arguments import TrainingCommand
from bioscan_hf.training.barcodebert import pretrain_barcodebert
from bioscan_hf.training.clibd import CLIBD_RECIPE, train_clibd
from bioscan_hf.training.species import CNN_RECIPE, FINETUNE_RECIPE, finetune_species, train_cnn


@dataclass(frozen=True)
class TrainingCommandLine(Command):
    """A training command: its options with `TrainingArguments`, and the recipe whose defaults they override."""

    recipe: dict | None = None

    def parser(self, prog: str) -> argparse.ArgumentParser:
        return arguments.training_parser(self.settings, prog, self.description, self.recipe or {})

    def main(self, prog: str, argv: list[str]) -> None:
        run = arguments.parse_training_command(self.settings, argv, prog, self.description, self.recipe or {})
        configure_output(run.output.quiet, run.output.verbose)
        self.run(run)


def run_pretrain(run: TrainingCommand) -> None:
    o = run.options
    result = pretrain_barcodebert(
        o.dataset,
        run.output_dir,
        config=o.model_config(),
        scheme=o.masking,
        seed=run.seed,
        resume=not o.no_resume,
        **run.overrides,
    )
    if result.resumed_from:
        print(f"resumed from {result.resumed_from}")
    print(f"model saved to {result.model_dir}")


def run_finetune(run: TrainingCommand) -> None:
    o = run.options
    result = finetune_species(
        o.dataset,
        o.model,
        run.output_dir,
        seed=run.seed,
        resume=not o.no_resume,
        trust_remote_code=o.trust_remote_code,
        **run.overrides,
    )
    print_species_scores(result)


def run_train_cnn(run: TrainingCommand) -> None:
    o = run.options
    print_species_scores(train_cnn(o.dataset, run.output_dir, seed=run.seed, resume=not o.no_resume, **run.overrides))


def run_train_clibd(run: TrainingCommand) -> None:
    o = run.options
    result = train_clibd(
        o.dataset,
        run.output_dir,
        config=o.config,
        preset=o.preset,
        image_checkpoint=o.image_checkpoint,
        dna_model=o.dna_model,
        text_model=o.text_model,
        finetune=o.finetune,
        lora_rank=o.lora_rank,
        use_text=not o.no_text,
        seed=run.seed,
        resume=not o.no_resume,
        **run.overrides,
    )
    if result.resumed_from:
        print(f"resumed from {result.resumed_from}")
    print(f"model saved to {result.model_dir}; score it with:")
    command = f"evaluate retrieval --dataset {o.dataset} --model {result.model_dir} --out retrieval"
    print(f"  {runnable('bioscan-hf')} {command}")


def print_species_scores(result) -> None:
    """Val and test accuracy of a species classifier run, then where it was saved."""
    for split in ("val", "test"):
        if f"{split}_accuracy" in result.metrics:
            print(
                f"{split}: accuracy {result.metrics[f'{split}_accuracy']:.4f}, "
                f"macro accuracy {result.metrics[f'{split}_macro_accuracy']:.4f}"
            )
    print(f"model saved to {result.model_dir}")


def _command(options: type, run: Callable, recipe: dict, description: str) -> TrainingCommandLine:
    return TrainingCommandLine(options, run, description, recipe=recipe)


COMMANDS: dict[str, Command] = {
    "pretrain": _command(
        arguments.PretrainArguments,
        run_pretrain,
        {},
        "Pre-train BarcodeBERT on the unique barcodes of pretrain + other_heldout (trailing N stripped). Defaults "
        "follow the published 8-4-4 recipe (--preset; k=8, 4 layers, 4 heads, hidden 768), 50% of tokens masked to "
        "[MASK], AdamW + OneCycle, batch 128, lr 2e-4, 35 epochs. Runs under `accelerate launch` for several "
        "processes; resumes from OUT's last checkpoint.",
    ),
    "finetune": _command(
        arguments.FinetuneArguments,
        run_finetune,
        FINETUNE_RECIPE,
        "Fine-tune a DNA model to classify species on train — a BarcodeBERT or BarcodeMamba folder, or "
        "hf:PATH_OR_ID of any transformers model with a sequence-classification head (DNABERT-2, Nucleotide "
        "Transformer …) — and report micro and macro accuracy on val and test (OUT/final/metrics.json, read by "
        "`bioscan-hf tables`). The defaults below are BarcodeBERT's recipe; a BarcodeMamba folder takes its "
        "authors' (AdamW lr 8e-4, weight decay 0.1, batch 16, gradient clip 1, cosine after a 1% warm-up to "
        "0.1 × lr, up to 50 epochs with early stopping after 3 epochs without a lower val loss). Options given "
        "go over either. Runs under `accelerate launch` too.",
    ),
    "train-cnn": _command(
        arguments.TrainCnnArguments,
        run_train_cnn,
        CNN_RECIPE,
        "Train the CNN baseline (BarcodeBERT's paper; BIOSCAN-5M Table 4): barcodes one-hot over A C G T N, cut or "
        "padded to 660 bases, three convolution blocks, a 500-d embedding, a species classifier; SGD (momentum "
        "0.9) with the rate halved every 3 epochs. Reports val and test accuracy; its 500-d features serve "
        "`bioscan-hf evaluate knn --model OUT/final`.",
    ),
    "train-clibd": _command(
        arguments.TrainClibdArguments,
        run_train_clibd,
        CLIBD_RECIPE,
        "Contrastive training of CLIBD on the paired images, barcodes and taxonomy of pretrain + train in an image "
        "config of a prepared dataset. Towers start from local checkpoints when given (timm weights file, "
        "BarcodeBERT folder, BERT folder). LoRA (rank 4 on query/value; the ViT's fused qkv) or full "
        "fine-tuning; bf16 on GPUs that have it. Runs under `accelerate launch` (features gathered across "
        "processes). OUT/initial = the towers before alignment (the no-alignment baseline), OUT/final = the "
        "trained model (LoRA merged), OUT/adapter = the LoRA adapter. Undecodable images are listed in "
        "OUT/undecodable_images.tsv.",
    ),
}
