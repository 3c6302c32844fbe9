"""Command-line options as dataclasses, parsed by transformers' `HfArgumentParser` for every command
(the training commands add `TrainingArguments`): one argument technology. `CommandParser` adds what
`HfArgumentParser` lacks — positional arguments and repeatable options (metadata `positional`, `append`)
— and the output options every command has (`OutputOptions`)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from transformers import HfArgumentParser

from bioscan_hf.core.output import HelpFormatter


def option(help: str, default: Any = dataclasses.MISSING, **metadata) -> Any:
    """A dataclass field for an option: its help text, default (none: required) and argparse extras
    (`choices`, `aliases`, `metavar`; `positional=True` or an nargs string; `append=True`)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})


class LiveChoices:
    """Choices read each time the command line is parsed or shown, not when the command is imported: for
    registries that can grow after import (evaluate's protocols)."""

    def __init__(self, read: Callable[[], Iterable[str]]) -> None:
        self.read = read

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self.read()))

    def __contains__(self, value: object) -> bool:
        return value in tuple(self.read())


@dataclass(kw_only=True)
class OutputOptions:
    """What every command prints (`bioscan_hf.core.output`)."""

    quiet: bool = option("print results and errors only: no progress bars, no status lines", False, aliases=["-q"])
    verbose: bool = option("also show third-party libraries' logs, warnings and progress bars", False, aliases=["-v"])


class CommandParser(HfArgumentParser):
    """`HfArgumentParser` over a command's option dataclasses, then `OutputOptions`."""

    def __init__(self, dataclass_types: Iterable[type], **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__([*dataclass_types, OutputOptions], **kwargs)

    @staticmethod
    def _parse_dataclass_field(parser: argparse.ArgumentParser, field: dataclasses.Field) -> None:
        metadata = dict(field.metadata)
        positional, append = metadata.pop("positional", None), metadata.pop("append", False)
        if positional:
            if positional is not True:
                metadata["nargs"] = positional
            if field.default is not dataclasses.MISSING:
                metadata.setdefault("nargs", "?")
                metadata["default"] = field.default
            parser.add_argument(field.name, **metadata)
        elif append:
            names = [f"--{field.name}", *([f"--{field.name.replace('_', '-')}"] if "_" in field.name else [])]
            parser.add_argument(*names, *metadata.pop("aliases", []), action="append", default=[], **metadata)
        else:
            HfArgumentParser._parse_dataclass_field(parser, field)

    def parse_command(self, argv: list[str]) -> tuple:
        """The command's option dataclasses (without `OutputOptions`), and its `OutputOptions`."""
        *options, output = self.parse_args_into_dataclasses(argv)
        return tuple(options), output
