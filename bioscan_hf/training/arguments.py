"""Options of the training commands, parsed as the transformers examples do: `HfArgumentParser` over the
command's own dataclass and `TrainingArguments` (every field: `--per_device_train_batch_size`,
`--gradient_accumulation_steps`, `--report_to`, `--bf16`, `--torch_compile`, …), our short options kept as
aliases, defaults from the published recipes, and `--config-file` for a JSON or YAML file of options
(command-line options win over the file).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from transformers import HfArgumentParser, TrainingArguments

from bioscan_hf.core.errors import InputError
from bioscan_hf.core.options import OutputOptions
from bioscan_hf.models.barcodebert.configuration_barcodebert import PRESETS as BARCODEBERT_PRESETS
from bioscan_hf.models.barcodebert.configuration_barcodebert import BarcodeBertConfig
from bioscan_hf.training.collators import MASKING_SCHEMES
from bioscan_hf.training.trainer import TRAINING_DEFAULTS

#: Our short options, kept as aliases of `TrainingArguments` fields (`--max-steps`, `--save-steps`,
#: `--logging-steps` and `--seed` are the fields' own).
ALIASES = {
    "output_dir": ("--out", str),
    "num_train_epochs": ("--epochs", float),
    "per_device_train_batch_size": ("--batch-size", int),
    "learning_rate": ("--lr", float),
}
EPILOG = (
    "Every transformers TrainingArguments field is accepted (the options after the command's own). "
    "The learning-rate schedule is the papers' OneCycle (peak = --learning_rate), except for the CNN's step "
    "decay and BarcodeMamba's cosine (--lr_scheduler_type is read for BarcodeMamba alone). Options may also "
    "come from --config-file FILE (.json, .yaml)."
)


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


@dataclass
class CommandArguments:
    """What every training command takes: the prepared dataset and whether to resume.

    Options marked "(required)" must be given, on the command line or in the config file (which is why
    argparse does not enforce them)."""

    dataset: str | None = field(default=None, metadata=_help("folder written by `bioscan-hf prepare` (required)"))
    no_resume: bool = field(default=False, metadata=_help("start over even if checkpoints exist"))

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if "(required)" in f.metadata.get("help", "") and getattr(self, f.name) is None:
                raise InputError(f"--{f.name.replace('_', '-')} is required")


@dataclass
class PretrainArguments(CommandArguments):
    """`bioscan-hf pretrain`: the data and the encoder's size (a preset of `BarcodeBertConfig`, default the
    published 8-4-4, with any of its fields given over it)."""

    preset: str = field(
        default="8-4-4", metadata=_help("BarcodeBERT size, k-layers-heads", choices=tuple(BARCODEBERT_PRESETS))
    )
    k_mer: int | None = field(default=None, metadata=_help("k-mer length (default: the preset's)", aliases=["--k"]))
    hidden_size: int | None = field(default=None, metadata=_help("hidden size (default: the preset's)"))
    num_hidden_layers: int | None = field(
        default=None, metadata=_help("transformer layers (default: the preset's)", aliases=["--layers"])
    )
    num_attention_heads: int | None = field(
        default=None, metadata=_help("attention heads (default: the preset's)", aliases=["--heads"])
    )
    masking: str = field(
        default="published",
        metadata=_help(
            "published: 50%% masked, all [MASK]; bert: 15%% masked, 80/10/10", choices=tuple(MASKING_SCHEMES)
        ),
    )

    def model_config(self) -> BarcodeBertConfig:
        """The preset with the fields given over it."""
        fields = ("k_mer", "hidden_size", "num_hidden_layers", "num_attention_heads")
        return BarcodeBertConfig.from_preset(
            self.preset, **{name: getattr(self, name) for name in fields if getattr(self, name) is not None}
        )


@dataclass
class FinetuneArguments(CommandArguments):
    """`bioscan-hf finetune`: the data and the model to fine-tune."""

    model: str | None = field(
        default=None,
        metadata=_help(
            "a BarcodeBERT or BarcodeMamba folder (pretrain's OUT/final, convert-*) or hf:PATH_OR_ID (required)"
        ),
    )
    trust_remote_code: bool = field(
        default=False, metadata=_help("let an hf: model run the code in its folder (DNABERT-2…)")
    )


@dataclass
class TrainCnnArguments(CommandArguments):
    """`bioscan-hf train-cnn`: the data alone (the CNN's shape is the published one)."""


@dataclass
class TrainClibdArguments(CommandArguments):
    """`bioscan-hf train-clibd`: the data, the model's size and starting towers, LoRA or full fine-tuning."""

    dataset: str | None = field(
        default=None, metadata=_help("folder written by `bioscan-hf prepare` with an image config (required)")
    )
    config: str = field(default="cropped_256", metadata=_help("image config to train on"))
    preset: str = field(default="published", metadata=_help("model size: published or small (CPU minutes)"))
    image_checkpoint: str | None = field(default=None, metadata=_help("timm weights file for the image model"))
    dna_model: str | None = field(default=None, metadata=_help("BarcodeBERT folder to start the DNA tower from"))
    text_model: str | None = field(default=None, metadata=_help("BERT folder (with tokenizer) for the text tower"))
    finetune: str = field(default="lora", metadata=_help("LoRA adapters or all weights", choices=("lora", "full")))
    lora_rank: int = field(default=4, metadata=_help("LoRA rank"))
    no_text: bool = field(default=False, metadata=_help("train the image–DNA pair only"))


def training_parser(command: type, prog: str, description: str, recipe: dict) -> HfArgumentParser:
    """The command's parser: its dataclass, then `TrainingArguments` with our aliases and `recipe` defaults."""
    parser = HfArgumentParser(
        (command, TrainingArguments, OutputOptions), prog=prog, description=description, epilog=EPILOG
    )
    for name, (alias, kind) in ALIASES.items():
        parser.add_argument(alias, dest=name, type=kind, help=f"same as --{name}")
    parser.add_argument("--cpu", dest="use_cpu", action="store_true", help="same as --use_cpu")
    parser.add_argument(
        "--config-file",
        help="JSON or YAML file of options, keyed by field name (dataset, output_dir, learning_rate, …)",
    )
    parser.set_defaults(**{**TRAINING_DEFAULTS, **recipe})
    return parser


def read_options(path: str | Path) -> dict:
    """Options from a JSON or YAML file (a mapping of option names to values)."""
    text = Path(path).read_text()
    values = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    if not isinstance(values, dict):
        raise InputError(f"{path}: expected a mapping of option names to values, found {type(values).__name__}")
    return values


def _field_names(command: type, values: dict) -> dict:
    """Option-file keys as field names: an option's alias (`k`, `layers`) names its field (`k_mer`, …)."""
    names = {
        alias.lstrip("-").replace("-", "_"): f.name
        for f in dataclasses.fields(command)
        for alias in f.metadata.get("aliases", [])
    }
    return {names.get(key, key): value for key, value in values.items()}


@dataclass
class TrainingCommand:
    """A parsed training command: its own options, where it writes, its seed, and the `TrainingArguments`
    fields the user set (the training functions put them over their recipes)."""

    options: object
    output_dir: str
    seed: int
    overrides: dict
    output: OutputOptions = dataclasses.field(default_factory=OutputOptions)


def parse_training_command(
    command: type, argv: Sequence[str], prog: str, description: str, recipe: dict
) -> TrainingCommand:
    """Parse `argv` (options file first, then the command line over it)."""
    parser = training_parser(command, prog, description, recipe)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config-file")
    config_file = pre.parse_known_args(argv)[0].config_file
    file_values = _field_names(command, read_options(config_file)) if config_file else {}
    training_fields = {f.name for f in dataclasses.fields(TrainingArguments) if f.init}
    fields = training_fields | {f.name for f in dataclasses.fields(command) if f.init}
    unknown = sorted(set(file_values) - fields)
    if unknown:
        parser.error(f"unknown option(s) in the config file: {', '.join(unknown)}")
    parser.set_defaults(**file_values)
    namespace = parser.parse_args(argv)
    # which options the user gave (command line or file), to put over the command's recipe and no more
    probe = training_parser(command, prog, description, recipe)
    unset = object()  # not a string: argparse would run a string default through the option's type
    probe.set_defaults(**dict.fromkeys(fields, unset))
    given = {name for name, value in vars(probe.parse_args(argv)).items() if value is not unset} | set(file_values)
    if not namespace.output_dir:
        parser.error("the output folder is required: --out DIR (or --output_dir DIR)")
    try:
        options = command(**{f.name: getattr(namespace, f.name) for f in dataclasses.fields(command)})
    except ValueError as err:
        parser.error(str(err))
    overrides = {name: getattr(namespace, name) for name in sorted(given & training_fields - {"output_dir", "seed"})}
    output = OutputOptions(quiet=namespace.quiet, verbose=namespace.verbose)
    return TrainingCommand(options, namespace.output_dir, namespace.seed, overrides, output)
