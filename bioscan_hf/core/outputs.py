"""Output folders: a command writes only into a folder that is new, empty, or one it wrote before
(recognised by the owner file it leaves there, `OWNER_FILE`); anything else is refused before work starts,
naming the folder and the files in the way, unless the user passes `--overwrite`. A command never deletes
a file it did not write, and replaces a finished result only by a complete one (`swap_in`).

Output files follow the same rule (`OutputFile`: the main output and every file beside it — companions,
skipped lists, summaries, plots): refused before any work when they exist and the command did not write
them, written whole to a temporary name of this process's own, then moved into place in one step. This is
the package's one way to write a file a user will read."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bioscan_hf.core.errors import InputError, UserError
from bioscan_hf.core.paths import user_path

#: The file a command leaves in its output folder, naming the command that owns the folder.
OWNER_FILE = ".bioscan-hf-output.json"


class OutputFolderError(UserError, FileExistsError):
    """An output folder that holds files the command did not write."""


def check_writable(path: Path) -> None:
    """Refuse, in words and before any work, an output path that cannot be written: one under a file, or
    in a folder this user cannot write to (no permission, a read-only file system)."""
    for parent in Path(path).absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputFolderError(f"{path}: {parent} is a file, not a folder; give an output path under a folder")
            if not os.access(parent, os.W_OK):
                raise OutputFolderError(
                    f"{path}: cannot write in {parent} (no permission, or a read-only file system); give a folder "
                    "you can write to"
                )
            return


def make_output_folder(folder: str | os.PathLike) -> Path:
    """The output folder a user named, created (`~` expanded); a path that is a file, lies under a file or
    cannot be written is refused in words, not an errno."""
    path = user_path(folder)
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{path} is a file; this output is a folder: give a folder path")
    check_writable(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def claim_output_folder(folder: Path, command: str, overwrite: bool = False) -> bool:
    """Check that `command` may write into `folder` and mark it as the command's; returns True when the
    folder was created here (so that a failed run can remove it again)."""
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"{folder} is a file; the output of {command} is a folder: give a folder path")
    check_writable(folder)
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
    check_writable(path)


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """`write(temporary path)` beside `path`, then the complete file replaces `path` in one step. The
    temporary name is this process's own, so processes writing the same file (a shared cache, ranks of
    `accelerate launch`) never write into each other's halves: the last complete file wins."""
    partial = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    path.parent.mkdir(parents=True, exist_ok=True)  # a missing folder (`check_writable` passed it before the work)
    try:
        write(partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def output_path(out: str | os.PathLike, suffixes: tuple[str, ...]) -> Path:
    """The output file a user named (`~` expanded), refused unless it ends in one of `suffixes`."""
    path = user_path(out)
    if path.suffix not in suffixes:
        raise InputError(f"{path}: the output must end in {', '.join(suffixes)}")
    return path


def check_all(files: Iterable[OutputFile]) -> None:
    """Check every file a command will write before any work (`OutputFile.check`)."""
    for file in files:
        file.check()


def companion(out: Path, name: str, suffix: str | None = None) -> Path:
    """A file beside `out`: `<stem>.<name><suffix>` (`suffix` default: `out`'s)."""
    return out.with_name(f"{out.stem}.{name}{suffix or out.suffix}")


def write_table(frame: Any, path: Path, suffix: str | None = None) -> None:
    """Write a DataFrame by suffix (`path`'s, or `suffix`): .tsv, .csv, .json (records), .parquet."""
    suffix = suffix or path.suffix
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".json":
        path.write_text(frame.to_json(orient="records", indent=1, force_ascii=False))
    else:
        frame.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)


@dataclass(frozen=True)
class OutputFile:
    """One file a command writes, with the package's one rule for it: checked before any work (`check`:
    refused when it exists and the command did not write it, unless `overwrite`), and replaced only by a
    complete new file (`write`, `write_text`, `write_table`: atomic, safe for several processes).
    `ours`: whether the command recognises an existing file as its own output (a bool, or a test of the
    path)."""

    path: Path
    command: str
    overwrite: bool = False
    ours: bool | Callable[[Path], bool] = False

    def is_ours(self) -> bool:
        return self.ours(self.path) if callable(self.ours) else bool(self.ours)

    def check(self) -> OutputFile:
        """Refuse before any work (module docstring); returns itself."""
        check_output_file(self.path, self.path.exists() and self.is_ours(), self.command, self.overwrite)
        return self

    def companion(self, name: str, suffix: str | None = None) -> OutputFile:
        """The file `<stem>.<name><suffix>` beside this one, under the same rule."""
        return replace(self, path=companion(self.path, name, suffix))

    def write(self, write: Callable[[Path], None]) -> Path:
        """`write(temporary path)`, then the complete file replaces `path`."""
        write_atomically(self.path, write)
        return self.path

    def write_text(self, text: str) -> Path:
        return self.write(lambda path: path.write_text(text))

    def write_json(self, value: Any) -> Path:
        return self.write_text(json.dumps(value, indent=1))

    def write_table(self, frame: Any, suffix: str | None = None) -> Path:
        """A DataFrame by suffix (`suffix`, default `path`'s): .tsv, .csv, .json, .parquet."""
        return self.write(lambda path: write_table(frame, path, suffix or self.path.suffix))
