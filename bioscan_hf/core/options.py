"""Settings as dataclasses, parsed by transformers' `HfArgumentParser` for every command (the training
commands add `TrainingArguments`): one argument technology. `option` declares a field once — its help text,
default and argparse extras — so a settings class is at once the Python API's argument and the command's
options. `CommandParser` adds what `HfArgumentParser` lacks — positional arguments and repeatable options
(metadata `positional`, `append`) — and the output options every command has (`OutputOptions`).

Importing this module imports no third-party library: `CommandParser` (which subclasses `HfArgumentParser`,
importing transformers) is made when first asked for, so settings classes cost nothing to import."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bioscan_hf.core.console import HelpFormatter
from bioscan_hf.core.errors import InputError


def option(help: str, default: Any = dataclasses.MISSING, **metadata) -> Any:
    """A dataclass field for an option: its help text, default (none: required) and argparse extras
    (`choices`, `aliases`, `metavar`; `positional=True` or an nargs string; `append=True`)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})


def comma_list(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """`a,b, c` (or a sequence) → ("a", "b", "c"), empty items dropped."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    return tuple(item.strip() for item in items if item.strip())


def at_least(name: str, value: int, lowest: int) -> None:
    """Refuse a count under `lowest`, naming the option."""
    if value < lowest:
        raise InputError(f"--{name.replace('_', '-')} {value}: expected a whole number ≥ {lowest}")


def probability(name: str, value: float) -> None:
    """Refuse a probability outside 0–1, naming the option."""
    if not 0 <= value <= 1:
        raise InputError(f"--{name.replace('_', '-')} {value}: expected a probability between 0 and 1")


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return os.fspath(value) if isinstance(value, os.PathLike) else value


#: Settings that change neither a run's results nor its files: left out of what a resume must match.
RUN_ONLY = ("num_proc", "overwrite")


class Settings:
    """What every settings class shares: `given` (the Python API's keywords over a settings object) and
    `as_dict` (the fields as JSON, for the digest a resumed run must match and for `provenance.json`)."""

    @classmethod
    def given(cls, settings: Settings | None = None, **overrides: Any) -> Any:
        """`settings` (default: the defaults) with `overrides` applied, checked again: what a function taking
        settings does with its keyword arguments, so `identify(q, r, out, top_k=5)` and
        `identify(q, r, out, IdentifySettings(top_k=5))` are the same run."""
        if settings is not None and not isinstance(settings, cls):
            raise TypeError(f"expected {cls.__name__}, got {type(settings).__name__}")
        return dataclasses.replace(settings, **overrides) if settings is not None else cls(**overrides)

    def as_dict(self, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
        """The fields as JSON values (tuples as lists, paths as text), without those in `leave_out`."""
        return {f.name: _json_value(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name not in leave_out}

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # normalising a frozen field in __post_init__


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
    """What every command prints (`bioscan_hf.core.console`)."""

    quiet: bool = option("print results and errors only: no progress bars, no status lines", False, aliases=["-q"])
    verbose: bool = option("also show third-party libraries' logs, warnings and progress bars", False, aliases=["-v"])


def _command_parser() -> type:
    from transformers import HfArgumentParser

    class CommandParser(HfArgumentParser):
        """`HfArgumentParser` over a command's settings dataclasses, then `OutputOptions`."""

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
                action = parser._actions[-1]  # shown as people type it: --top-k first (--top_k still read)
                action.option_strings.sort(key=lambda name: (not name.startswith("--"), "_" in name))

        def parse_command(self, argv: list[str]) -> tuple:
            """The command's option dataclasses (without `OutputOptions`), and its `OutputOptions`."""
            *options, output = self.parse_args_into_dataclasses(argv)
            return tuple(options), output

    return CommandParser


def __getattr__(name: str) -> Any:
    if name == "CommandParser":  # made on first use: it imports transformers
        globals()[name] = parser = _command_parser()
        return parser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
