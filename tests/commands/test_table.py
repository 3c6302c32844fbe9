"""The command line as a table: every entry has its `Command`, every command module stays small, every
command takes --quiet and --verbose, and `bioscan-hf --help` imports no command module."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from bioscan_hf.cli import build_parser, command, main
from bioscan_hf.commands import TABLE


def test_every_entry_has_its_command() -> None:
    modules = {module for module, _ in TABLE.values()}
    for module in modules:
        commands = importlib.import_module(f"bioscan_hf.commands.{module}").COMMANDS
        assert set(commands) == {name for name, (m, _) in TABLE.items() if m == module}, module
    folder = Path(importlib.import_module("bioscan_hf.commands").__file__).parent
    for path in folder.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 250, f"{path.name} is over 250 lines"


@pytest.mark.parametrize("name", list(TABLE))
def test_every_command_takes_quiet_and_verbose(name: str) -> None:
    text = command(name).parser(f"bioscan-hf {name}").format_help()
    assert "--quiet" in text and "--verbose" in text


def test_top_level_help_is_light() -> None:
    code = (
        "import sys\nfrom bioscan_hf.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "loaded = [m for m in sys.modules if m.startswith('bioscan_hf.commands.')]\n"
        "assert not loaded, loaded\nassert 'transformers' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


def test_unknown_command_names_the_choices(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["prepar"])
    assert "invalid choice: 'prepar'" in capsys.readouterr().err


def test_full_parser_lists_every_command_with_its_options() -> None:
    import argparse

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(TABLE)
    assert any("--reference" in a.option_strings for a in sub.choices["identify"]._actions)


def test_models_lists_the_registry(capsys: pytest.CaptureFixture) -> None:
    from bioscan_hf.embedding import ENCODER_FAMILIES

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for family in ENCODER_FAMILIES:
        assert family.syntax in out and family.summary in out
    assert out.count("\n") == len(ENCODER_FAMILIES) + 1  # + align


def test_quiet_prints_results_only(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["sample", "--out", str(tmp_path / "rel"), "--scale", "60", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"synthetic release written to {tmp_path / 'rel'}\n"
    assert "drawing specimen images" not in captured.err


def test_bad_option_values_name_the_option(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    assert main(["sample", "--out", str(tmp_path), "--scale", "lots"]) == 1
    assert "--scale 'lots': give small (2,000 records), medium (20,000) or a number" in capsys.readouterr().err
    args = ["identify", "q.fasta", "--reference", "r", "--out", str(tmp_path / "o.tsv")]
    assert main([*args, "--thresholds", "species=abc"]) == 1
    assert "--thresholds 'species=abc': expected RANK=IDENTITY" in capsys.readouterr().err
    assert main(["demo", "--release", "r", "--bold", "b.tsv", "--out", str(tmp_path / "d")]) == 1
    assert "--release and --bold exclude each other" in capsys.readouterr().err
