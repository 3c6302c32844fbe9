"""The `bioscan-hf` command: help, the main job, and errors that say what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from bioscan_hf.cli import build_parser, main


def test_help_lists_every_command(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    for command in ("demo", "sample", "prepare", "push", "download", "verify", "import-bold"):
        assert command in text


def test_every_option_explains_itself() -> None:
    import argparse

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    unexplained = [
        f"{name} {action.dest}"
        for name, command in sub.choices.items()
        for action in command._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help
    ]
    assert not unexplained, f"options without --help text: {unexplained}"


def test_console_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bioscan_hf.cli", "prepare", "--help"], capture_output=True, text=True, check=True
    )
    assert "--num-proc" in result.stdout and "--on-missing-image" in result.stdout


def test_sample_then_prepare(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["sample", "--out", str(tmp_path / "rel"), "--scale", "80", "--no-images"]) == 0
    assert main(["prepare", "--release", str(tmp_path / "rel"), "--out", str(tmp_path / "hub")]) == 0
    out = capsys.readouterr().out
    assert "skipped cropped_256: no cropped_256 images" in out and "built: metadata" in out
    assert datasets.load_dataset(str(tmp_path / "hub"), "metadata", split="train").num_rows > 0


def test_errors_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["prepare", "--release", str(tmp_path), "--out", str(tmp_path / "o"), "--configs", "metadata"]) == 1
    err = capsys.readouterr().err
    assert "no BIOSCAN-5M metadata" in err and "bioscan-hf sample" in err and "Traceback" not in err
