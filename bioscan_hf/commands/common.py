"""What the command modules share: the `Command` type and the value readers for option text. A run's
settings live with the part that runs them (`search.settings`, `audit.settings`, `embedding.settings`)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from bioscan_hf.core.console import configure_output
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.options import CommandParser

DATASET_HELP = "folder written by `bioscan-hf prepare` (metadata config)"


@dataclass(frozen=True)
class Command:
    """A command: the settings classes it parses (its inputs, then the run's settings object, owned by the
    part that runs it), the function that runs it with one instance of each, and its `--help` text."""

    settings: type | tuple[type, ...]
    run: Callable[..., None]
    description: str
    epilog: str = ""

    def parser(self, prog: str) -> argparse.ArgumentParser:
        """The command's parser (its settings classes, then `--quiet` / `--verbose`)."""
        types = self.settings if isinstance(self.settings, tuple) else (self.settings,)
        return CommandParser(types, prog=prog, description=self.description, epilog=self.epilog)

    def main(self, prog: str, argv: list[str]) -> None:
        """Parse `argv`, set the output policy, run."""
        parsed, output = self.parser(prog).parse_command(argv)
        configure_output(output.quiet, output.verbose)
        self.run(*parsed)


def scale(value: str | int) -> str | int:
    """A sample size: small, medium or a number of records."""
    if value in ("small", "medium") or isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        raise InputError(f"--scale {value!r}: give small (2,000 records), medium (20,000) or a number") from None


def print_report(result: Any) -> None:
    """Print a run's `report()`: once, by the main process of an `accelerate launch` (the others return
    with `main_process` False)."""
    if getattr(result, "main_process", True):
        print(result.report())


def reporting(target: str) -> Callable[..., None]:
    """The `run` of a command that calls one function and prints its report: `target` ("module:function",
    imported when the command runs) gets the inputs' fields in order, then the settings object whole."""

    def run(inputs: Any, settings: Any) -> None:
        module, _, name = target.partition(":")
        function = getattr(importlib.import_module(module), name)
        print_report(function(*(getattr(inputs, f.name) for f in fields(inputs)), settings))

    return run
