"""Paths as users type them: every path argument accepts `~` (the shell does not expand it inside
Python strings, e.g. `data_dir="~/bioscan5m"`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def user_path(path: str | os.PathLike) -> Path:
    """`path` with `~` expanded."""
    return Path(os.path.expanduser(os.fspath(path)))


def runnable(program: str) -> str:
    """How to call `program` (`bioscan-hf`, `python`, `accelerate`) of this environment so that a printed
    command runs as shown, activated or not: its path beside the running Python, relative when shorter."""
    path = Path(sys.executable).parent / program
    if not path.exists():
        return program
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return relative if len(relative) < len(str(path)) and not relative.startswith("../..") else str(path)
