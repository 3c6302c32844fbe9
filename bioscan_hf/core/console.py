"""What a command prints (the console; the files a command writes are `core.outputs`): the policy of every
command, in one place (with the help text's formatter): progress bars on long work, no repeated
third-party noise, a status line where a step would otherwise be silent, and `--quiet` / `--verbose`.

- default: our progress bars (once a step has run `BAR_DELAY_SECONDS`) and status lines; third-party
  libraries' warnings and their bars for short steps (datasets' "Generating <split> split" when a prepared
  folder is opened or a small one is built, transformers' "Loading weights" and "Writing model shards",
  the torchvision fallback notice) are hidden; training shows one bar with its loss;
- `--quiet`: results and errors only (no progress bar, no status line);
- `--verbose`: everything, third-party logs and bars included.

Nothing here imports a third-party library: a library already imported is set through its API, one
imported later through the environment variables it reads (so `bioscan-hf --help` stays fast).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tqdm import tqdm


from bioscan_hf.core.errors import InputError

_POLICY = {"quiet": False, "verbose": False}


def configure_output(quiet: bool = False, verbose: bool = False) -> None:
    """Set this process's output policy (the command line calls it once per command). A process of
    `accelerate launch` other than the main one (RANK ≠ 0) prints errors only: the main one speaks for all."""
    if quiet and verbose:
        raise InputError("--quiet and --verbose exclude each other; give one")
    if int(os.environ.get("RANK", "0") or 0) != 0:
        quiet, verbose = True, False
    _POLICY.update(quiet=quiet, verbose=verbose)
    level = "info" if verbose else "error"
    os.environ["TRANSFORMERS_VERBOSITY"] = level
    os.environ["DATASETS_VERBOSITY"] = level
    if (transformers := sys.modules.get("transformers")) is not None:
        transformers.logging.set_verbosity(logging.INFO if verbose else logging.ERROR)
        (transformers.logging.enable_progress_bar if verbose else transformers.logging.disable_progress_bar)()
    if (datasets := sys.modules.get("datasets")) is not None:
        datasets.logging.set_verbosity(logging.INFO if verbose else logging.ERROR)
        (datasets.disable_progress_bars if quiet else datasets.enable_progress_bars)()
    logging.getLogger("bioscan_hf").setLevel(logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING)


def is_quiet() -> bool:
    """Whether only results and errors are printed."""
    return _POLICY["quiet"]


def is_verbose() -> bool:
    """Whether third-party logs (and the tracebacks behind our one-line errors) are shown."""
    return _POLICY["verbose"]


#: A bar appears once its work has run this long: a step done sooner prints nothing (a command's dozens of
#: one-batch steps are not dozens of bars), a longer one is never silent for more than this.
BAR_DELAY_SECONDS = 2.0


def progress_bar(iterable: Iterable | None = None, **kwargs) -> tqdm:
    """A tqdm progress bar for long work (shown after `BAR_DELAY_SECONDS`; from the start with `--verbose`),
    hidden under `--quiet` (or when the caller disables it)."""
    from tqdm.auto import tqdm  # here: tqdm.auto imports asyncio, which no `--help` needs

    kwargs["disable"] = kwargs.get("disable", False) or _POLICY["quiet"]
    kwargs.setdefault("delay", 0.0 if _POLICY["verbose"] else BAR_DELAY_SECONDS)
    return tqdm(iterable, **kwargs)


def status(message: str) -> None:
    """A status line for a step that would otherwise be silent for a while (hidden under `--quiet`)."""
    if not _POLICY["quiet"]:
        print(message, flush=True)


@contextlib.contextmanager
def short_library_bars_hidden(short: bool = True) -> Iterator[None]:
    """Hide datasets' progress bars for a step that is `short` (seconds: opening a prepared folder, a map over
    a small split), unless `--verbose`; the previous setting is restored after it. A step that is not
    short keeps them (they are its progress)."""
    datasets = sys.modules.get("datasets")
    if not short or datasets is None or _POLICY["verbose"] or not datasets.is_progress_bar_enabled():
        yield
        return
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        datasets.enable_progress_bars()


#: Records under which a datasets step (split generation, a map) is short: seconds of work.
SHORT_STEP_RECORDS = 20_000


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that a description or epilog keeps its line breaks and its indented lines
    (examples: commands to copy) as written; other lines are wrapped."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(
            indent + line if line.startswith("  ") else super(HelpFormatter, self)._fill_text(line, width, indent)
            for line in text.splitlines()
        )
