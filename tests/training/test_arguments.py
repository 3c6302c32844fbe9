"""Training commands speak TrainingArguments: every field parsed (HfArgumentParser), our short options as
aliases, a JSON/YAML options file under the command line, and a run that honours what was parsed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import TINY_PRETRAIN_OPTIONS

from bioscan_hf.cli import main
from bioscan_hf.training.arguments import PretrainArguments, TrainClibdArguments, parse_training_command
from bioscan_hf.training.clibd import CLIBD_RECIPE


def _parse(argv: list[str], command: type = PretrainArguments, recipe: dict | None = None):
    return parse_training_command(command, argv, "bioscan-hf test", "test", recipe or {})


def test_fields_aliases_and_recipe() -> None:
    run = _parse(
        [
            "--dataset",
            "d",
            "--out",
            "o",
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--lr",
            "0.001",
            "--cpu",
            "--gradient_accumulation_steps",
            "4",
            "--report_to",
            "none",
            "--warmup-steps",
            "3",
            "--seed",
            "7",
            "--k",
            "5",
        ]
    )
    assert run.output_dir == "o" and run.seed == 7 and run.options.k_mer == 5 and run.options.masking == "published"
    assert run.overrides == {
        "gradient_accumulation_steps": 4,
        "learning_rate": 0.001,
        "num_train_epochs": 2.0,
        "per_device_train_batch_size": 16,
        "report_to": "none",
        "use_cpu": True,
        "warmup_steps": 3.0,
    }
    # only what the user gave goes over the command's recipe: the recipe's own values stay with the recipe
    clibd = _parse(["--dataset", "d", "--output_dir", "o", "--bf16", "false"], TrainClibdArguments, CLIBD_RECIPE)
    assert clibd.overrides == {"bf16": False} and clibd.options.finetune == "lora"


@pytest.mark.damaged_input
def test_config_file_under_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text("dataset: d\noutput_dir: o\nlearning_rate: 0.0003\nlayers: 2\nmax_steps: 9\n")
    run = _parse(["--config-file", str(tmp_path / "run.yaml"), "--max-steps", "5"])
    assert run.options.dataset == "d" and run.options.num_hidden_layers == 2 and run.output_dir == "o"
    assert run.overrides == {"learning_rate": 0.0003, "max_steps": 5}
    (tmp_path / "run.json").write_text(json.dumps({"dataset": "d", "out": "o", "learning_rat": 1}))
    with pytest.raises(SystemExit):
        _parse(["--config-file", str(tmp_path / "run.json")])


def test_missing_required_options_are_named(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        _parse(["--out", "o"])
    assert "--dataset is required" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parse(["--dataset", "d"])
    assert "the output folder is required: --out DIR (or --output_dir DIR)" in capsys.readouterr().err


def test_gradient_accumulation_run(prepared: Path, tmp_path: Path) -> None:
    """A pre-training run given TrainingArguments fields directly: accumulation of 2 over 2 steps."""
    out = tmp_path / "bb"
    argv = [
        "pretrain",
        "--dataset",
        str(prepared),
        "--out",
        str(out),
        *TINY_PRETRAIN_OPTIONS,
        "--max-steps",
        "2",
        "--batch-size",
        "8",
        "--gradient_accumulation_steps",
        "2",
        "--report_to",
        "none",
        "--logging_steps",
        "1",
        "--save_strategy",
        "no",
    ]
    assert main(argv) == 0
    args = torch.load(out / "final" / "training_args.bin", weights_only=False)
    assert (
        args.gradient_accumulation_steps == 2 and args.per_device_train_batch_size == 8 and args.save_strategy == "no"
    )
    assert args.per_device_eval_batch_size == 8  # follows --batch-size, as the old option did
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and not list(out.glob("checkpoint-*"))
