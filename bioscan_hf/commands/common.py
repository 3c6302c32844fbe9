"""What the command modules share: the `Command` type, the options several commands take (a prepared
dataset, an encoder and how it embeds, an embeddings file) and the value readers for option text."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bioscan_hf.core.options import CommandParser, option
from bioscan_hf.core.output import configure_output
from bioscan_hf.core.specs import SPEC_HELP

DATASET_HELP = "folder written by `bioscan-hf prepare` (metadata config)"
EMBEDDINGS_HELP = (
    "a Parquet file of `bioscan-hf embed` by the same --model (checked): the records it holds are read "
    "instead of embedded again; the others are embedded"
)
MODEL_SPEC_HELP = SPEC_HELP


@dataclass(frozen=True)
class Command:
    """A command: its options (a dataclass, parsed by `CommandParser`), what it runs with them, and the
    text of its `--help`."""

    options: type
    run: Callable[[Any], None]
    description: str
    epilog: str = ""

    def parser(self, prog: str) -> argparse.ArgumentParser:
        """The command's parser (its options, then `--quiet` / `--verbose`)."""
        return CommandParser([self.options], prog=prog, description=self.description, epilog=self.epilog)

    def main(self, prog: str, argv: list[str]) -> None:
        """Parse `argv`, set the output policy, run."""
        (options,), output = self.parser(prog).parse_command(argv)
        configure_output(output.quiet, output.verbose)
        self.run(options)


@dataclass(kw_only=True)
class EncoderOptions:
    """How --model embeds: pooling, remote code, device and dtype (bioscan_hf.embedding)."""

    pooling: str | None = option(
        "DNA models: mean over real tokens (default) or cls; image models: cls (default) or avg of patches",
        None,
        choices=("mean", "cls", "avg"),
    )
    trust_remote_code: bool = option(
        "let an hf: model run the code in its folder (DNABERT-2, HyenaDNA…); only for models you trust", False
    )
    device: str | None = option("cpu, cuda, cuda:1… (default: cuda when available)", None)
    dtype: str | None = option("weights' dtype (default: as saved)", None, choices=("float32", "float16", "bfloat16"))

    def encoder_options(self) -> dict:
        """The options given, as `load_encoder` keywords."""
        options = {
            "pooling": self.pooling,
            "trust_remote_code": self.trust_remote_code or None,
            "device": self.device,
            "dtype": self.dtype,
        }
        return {k: v for k, v in options.items() if v is not None}


def scale(value: str | int) -> str | int:
    """A sample size: small, medium or a number of records."""
    if value in ("small", "medium") or isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"--scale {value!r}: give small (2,000 records), medium (20,000) or a number") from None


def comma_list(text: str | None) -> list[str]:
    """`a,b, c` → ["a", "b", "c"] (empty items dropped)."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]
