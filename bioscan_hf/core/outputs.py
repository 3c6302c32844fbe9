"""Output folders: a command writes only into a folder that is new, empty, or one it wrote before
(recognised by the owner file it leaves there, `OWNER_FILE`); anything else is refused before work starts,
naming the folder and the files in the way, unless the user passes `--overwrite`. A command never deletes
a file it did not write, and replaces a finished result only by a complete one (`swap_in`)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

#: The file a command leaves in its output folder, naming the command that owns the folder.
OWNER_FILE = ".bioscan-hf-output.json"


class OutputFolderError(FileExistsError):
    """An output folder that holds files the command did not write."""


def claim_output_folder(folder: Path, command: str, overwrite: bool = False) -> bool:
    """Check that `command` may write into `folder` and mark it as the command's; returns True when the
    folder was created here (so that a failed run can remove it again)."""
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"{folder} is a file; the output of {command} is a folder: give a folder path")
    created = not folder.exists()
    if not created and owner(folder) != command:
        foreign = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        if foreign and not overwrite:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise OutputFolderError(
                f"{folder} holds files that bioscan-hf {command} did not write ({shown}); nothing was written. "
                "Give a new or empty folder, or pass --overwrite to write into this one (files of the same name "
                "are replaced; no other file is deleted)"
            )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / OWNER_FILE).write_text(json.dumps({"command": command}))
    return created


def owner(folder: Path) -> str | None:
    """The command that wrote `folder` (its owner file), or None."""
    try:
        return json.loads((folder / OWNER_FILE).read_text()).get("command")
    except (OSError, ValueError, AttributeError):
        return None


def release_output_folder(folder: Path, created: bool) -> None:
    """After a failed run: remove the folder again if this run created it and left nothing but its owner
    file (a folder that existed before is left as it is)."""
    if created and folder.is_dir() and [p.name for p in folder.iterdir()] == [OWNER_FILE]:
        (folder / OWNER_FILE).unlink()
        folder.rmdir()


def swap_in(new: Path, target: Path, ours: Callable[[Path], bool], trash: Path, marker: str | None = None) -> None:
    """Replace the files of a finished result in `target` by the complete result in `new`: the old files
    that `ours` recognises are moved aside into `trash` (the `marker` file, which says "complete", first),
    the new ones moved in (the marker last), then the old ones deleted. Files in `target` that `ours` does
    not recognise (a user's) are left where they are."""

    def marker_order(path: Path) -> bool:
        return path.name == marker

    target.mkdir(parents=True, exist_ok=True)
    trash.mkdir(parents=True, exist_ok=True)
    for old in sorted((p for p in target.iterdir() if p.is_file() and ours(p)), key=marker_order, reverse=True):
        old.rename(trash / old.name)
    for path in sorted(new.iterdir(), key=marker_order):
        path.rename(target / path.name)
    shutil.rmtree(trash)
    new.rmdir()


def check_output_file(path: Path, ours: bool, command: str, overwrite: bool = False) -> None:
    """Refuse, before any work, to replace a file that `command` did not write (`ours`: it recognises the
    file as its own output), unless `overwrite`; a folder where a file is expected is refused too."""
    if path.is_dir():
        raise OutputFolderError(f"{path} is a folder; the output of {command} is a file: give a file path")
    if path.exists() and not ours and not overwrite:
        raise OutputFolderError(
            f"{path} exists and was not written by bioscan-hf {command}; nothing was written. Give another path, "
            "or pass --overwrite to replace it"
        )


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """`write(temporary path)` beside `path`, then the complete file replaces `path` in one step."""
    partial = path.with_name(path.name + ".partial")
    try:
        write(partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
