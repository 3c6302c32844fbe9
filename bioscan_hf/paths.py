"""Paths as users type them: every path argument accepts `~` (the shell does not expand it inside
Python strings, e.g. `data_dir="~/bioscan5m"`)."""

from __future__ import annotations

import os
from pathlib import Path


def user_path(path: str | os.PathLike) -> Path:
    """`path` with `~` expanded."""
    return Path(os.path.expanduser(os.fspath(path)))
