"""`CommandParser`: HfArgumentParser with positional and repeatable fields and the output options."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bioscan_hf.core.options import CommandParser, OutputOptions, option


@dataclass(kw_only=True)
class Example:
    files: list[str] = option("files", positional="+")
    task: str = option("task", positional=True, choices=("a", "b"))
    out: str = option("folder")
    num_proc: int | None = option("processes", None)
    mirror: list[str] = option("mirror (repeatable)", [], append=True)
    no_images: bool = option("metadata only", False)


def test_positional_repeatable_and_dashed_options() -> None:
    parser = CommandParser([Example], prog="x")
    argv = ["f1", "f2", "a", "--out", "o", "--mirror", "m1", "--mirror", "m2", "--no-images", "--num-proc", "3"]
    (options,), output = parser.parse_command([*argv, "--quiet"])
    assert options == Example(files=["f1", "f2"], task="a", out="o", num_proc=3, mirror=["m1", "m2"], no_images=True)
    assert output == OutputOptions(quiet=True, verbose=False)
    (options,), _ = parser.parse_command(["f", "b", "--out", "o"])
    assert options.mirror == [] and options.num_proc is None and not options.no_images
    assert parser.parse_command(["f", "b", "--out", "o", "-q"])[1] == OutputOptions(quiet=True)  # short forms
    assert parser.parse_command(["f", "b", "--out", "o", "-v"])[1] == OutputOptions(verbose=True)


def test_a_missing_required_option_is_named(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        CommandParser([Example], prog="x").parse_command(["f", "a"])
    assert "the following arguments are required: --out" in capsys.readouterr().err
