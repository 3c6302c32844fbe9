"""`bioscan-hf`: the entry point. It builds the parser from the command table (`bioscan_hf.commands.TABLE`)
and hands a command's arguments to that command's own parser; nothing else happens here."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bioscan_hf.commands import TABLE
from bioscan_hf.core.console import HelpFormatter, is_verbose
from bioscan_hf.core.errors import UserError

if TYPE_CHECKING:  # the command modules import transformers: loaded only for the command that runs
    from bioscan_hf.commands.common import Command

EPILOG = """examples:
  bioscan-hf demo                                   # sample → prepare → load_dataset → report
  bioscan-hf sample --out release --scale medium    # a synthetic release in the real layout
  bioscan-hf prepare --release ~/bioscan5m --out bioscan-5m --configs metadata,cropped_256
  bioscan-hf import-bold my_project.tsv --out my_release
  bioscan-hf push bioscan-5m --repo-id me/bioscan-5m
  bioscan-hf pretrain --dataset bioscan-5m --out bb-pretrain          # BarcodeBERT 8-4-4
  accelerate launch --multi_gpu --num_processes 4 $(which bioscan-hf) pretrain --dataset bioscan-5m --out bb
  bioscan-hf finetune --dataset bioscan-5m --model bb-pretrain/final --out bb-species
  bioscan-hf train-clibd --dataset bioscan-5m --dna-model bb-pretrain/final --out clibd
  bioscan-hf evaluate retrieval --dataset bioscan-5m --model clibd/final --out clibd-eval
  bioscan-hf evaluate all --dataset bioscan-5m --model hf:path/to/DNABERT-2 --trust-remote-code --out dnabert2
  bioscan-hf evaluate cluster --dataset bioscan-5m --model timm:vit_base_patch16_224:vit.safetensors \\
      --concat-model bb-pretrain/final --out vit+bb
  bioscan-hf tables bb-eval dnabert2 vit+bb clibd-eval --out tables
  bioscan-hf models                                 # the encoder families --model accepts

every command takes --quiet (results and errors only) and --verbose (third-party logs too)."""


def command(name: str) -> Command:
    """The `Command` of a table entry (its module is imported here, and only here)."""
    module, _ = TABLE[name]
    return importlib.import_module(f"bioscan_hf.commands.{module}").COMMANDS[name]


def build_parser(with_options: bool = True) -> argparse.ArgumentParser:
    """The `bioscan-hf` parser: one sub-command per table entry, with every command's options
    (`with_options=False`: names and summaries only, which imports no command module)."""
    parser = argparse.ArgumentParser(
        prog="bioscan-hf",
        description="Hugging Face-native toolkit for BIOSCAN-5M: datasets, models, evaluation, Space.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, summary) in TABLE.items():
        if with_options:
            entry = command(name)
            sub.add_parser(
                name,
                help=summary,
                description=entry.description,
                epilog=entry.epilog,
                parents=[entry.parser(f"bioscan-hf {name}")],
                add_help=False,
                formatter_class=HelpFormatter,
            )
        else:
            sub.add_parser(name, help=summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bioscan-hf` command: the command's parser parses the rest of `argv`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in TABLE:
        build_parser(with_options=False).parse_args(argv)  # --help, or an error naming the commands
        return 2
    name, rest = argv[0], argv[1:]
    try:
        command(name).main(f"bioscan-hf {name}", rest)
    except KeyboardInterrupt:
        print(
            f"bioscan-hf {name}: interrupted; finished outputs and resumable parts are kept, nothing half-written "
            "replaced them: run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except (UserError, OSError) as err:
        if isinstance(err, UserError) or err.filename is not None:  # ours, or a file the system refused
            if is_verbose():
                traceback.print_exc()
            print(f"bioscan-hf {name}: error: {err}", file=sys.stderr)
            return 1
        raise  # a bug: its traceback
    return 0


def console() -> None:
    """The `bioscan-hf` executable: `main`, then an immediate exit once the output is flushed.

    Python's own shutdown can abort a process whose work is done ("terminate called without an active
    exception": pyarrow's threads at interpreter exit, apache/arrow#45214, datasets#7566), which would turn
    a finished run into a failed one; nothing is left to do at that point, so it is skipped.
    """
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console()
