"""Paths as users type them (every path argument accepts `~`: the shell does not expand it inside Python
strings, e.g. `data_dir="~/bioscan5m"`), and the rules for ids that become paths and for text fields."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from bioscan_hf.core.errors import MissingFileError


def expand_home(path: str | os.PathLike) -> str:
    """`path` as typed, with `~` expanded (the text kept: `./a` stays `./a`)."""
    return os.path.expanduser(os.fspath(path))


def user_path(path: str | os.PathLike) -> Path:
    """`path` with `~` expanded: the package's one reading of a path a user gave."""
    return Path(expand_home(path))


def existing_path(path: str | os.PathLike, what: str) -> Path:
    """`path` as `user_path`, checked before any work is done: a `MissingFileError` naming the path and what
    it should be (`what`: "BOLD export", "release folder") when nothing is there."""
    found = user_path(path)
    if not found.exists():
        raise MissingFileError(f"{path}: no such {what}; check the path (nothing was done)")
    return found


def space_app() -> Path | None:
    """The retrieval Space's folder of the checkout this package runs from (`spaces/bioscan-retrieval`
    beside `bioscan_hf/`), as a path a user can type from where they are; None for an install without it."""
    folder = Path(__file__).resolve().parents[2] / "spaces" / "bioscan-retrieval"
    if not (folder / "app.py").is_file():
        return None
    try:
        return Path(os.path.relpath(folder))
    except ValueError:  # another drive (Windows)
        return folder


def hash_file(digest, path: Path) -> None:
    """Feed the bytes of the file at `path` to a hashlib `digest`, 4 MiB at a time."""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)


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


#: Control characters: never part of an id, a label or any other text field (a NUL would make
#: `Arthrop\x00oda` a second class name).
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f]"
#: What an id that becomes part of a path or a file name (a processid, an image name, a query id) may not
#: hold: a path separator, `..`, or a control character.
UNSAFE_ID = r"[/\\\x00-\x1f\x7f]|\.\."
_UNSAFE_ID = re.compile(UNSAFE_ID)
_CONTROL = re.compile(CONTROL_CHARACTERS)


def id_problem(value: str) -> str | None:
    """Why `value` cannot be an id that names a file, or None."""
    bad = _UNSAFE_ID.search(value)
    if bad is None:
        return None
    what = {"/": "a path separator '/'", "\\": "a path separator '\\'", "..": "'..'"}.get(bad.group())
    return f"holds {what or f'a control character {bad.group()!r}'} at position {bad.start()}"


def text_problem(value: str) -> str | None:
    """Why `value` cannot be a text field (a control character), or None."""
    bad = _CONTROL.search(value)
    return None if bad is None else f"holds a control character {bad.group()!r} at position {bad.start()}"


def cache_dir() -> Path:
    """Folder for bioscan-hf's own caches (label maps, verified checksums, calibrations, parsed reference
    files, seed indexes): `$BIOSCAN_HF_CACHE`, else `$HF_HOME/bioscan_hf` where HF_HOME is set (beside the
    Hugging Face caches a user has moved), else `$XDG_CACHE_HOME/bioscan_hf` (~/.cache/bioscan_hf)."""
    if "BIOSCAN_HF_CACHE" in os.environ:
        path = user_path(os.environ["BIOSCAN_HF_CACHE"])
    elif os.environ.get("HF_HOME"):
        path = user_path(os.environ["HF_HOME"]) / "bioscan_hf"
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bioscan_hf"
    path.mkdir(parents=True, exist_ok=True)
    return path
