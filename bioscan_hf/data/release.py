"""Find the parts of a BIOSCAN-5M release in a folder, as a user has it, and read images from it.

A release folder may hold the zips as downloaded, their extracted contents (`bioscan5m/...`), or a mix.
Images are read straight from the zips, or from the extracted tree; nothing needs unpacking.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from bioscan_hf.core.errors import InputError, MissingFileError, UserError
from bioscan_hf.core.outputs import write_atomically
from bioscan_hf.core.paths import user_path
from bioscan_hf.data.schema import (
    IMAGE_PACKAGES,
    METADATA_COLUMNS,
    METADATA_CSV_PATH,
    METADATA_ZIP_NAME,
    PUBLISHED_ROWS,
    SPLIT_GROUPS,
    SPLITS,
    expected_chunk,
    image_member_path,
)

#: `BIOSCAN_5M_{package}[_{group}][.{part}].zip`, as published.
IMAGE_ZIP_PATTERN = re.compile(
    r"^BIOSCAN_5M_(?P<package>cropped_256|original_256|cropped|original_full)"
    r"(?:_(?P<group>pretrain|train|eval))?(?:\.(?P<part>\d+))?\.zip$"
)

#: Config name → (image package or None, splits it holds).
CONFIGS: dict[str, tuple[str | None, tuple[str, ...]]] = {"metadata": (None, SPLITS)}
CONFIGS.update({package: (package, SPLITS) for package in IMAGE_PACKAGES})
CONFIGS.update(
    {
        f"{package}_{group}": (package, splits)
        for package in ("cropped_256", "original_256")
        for group, splits in SPLIT_GROUPS.items()
    }
)


#: Written beside a generated release's metadata: its row count and origin, for the truncation check.
MANIFEST_NAME = "bioscan_hf_release.json"


class MissingImageError(UserError, FileNotFoundError):
    """An image the metadata lists is absent or unreadable; names the record and the path."""


class DamagedReleaseError(UserError, RuntimeError):
    """A release file (an image zip) cannot be opened at all: never skipped record by record."""


def resolve_config(name: str) -> str:
    """Return `name` if it is a config, else raise listing the valid ones."""
    if name not in CONFIGS:
        raise InputError(f"unknown config {name!r}; valid configs: {', '.join(CONFIGS)}")
    return name


def find_metadata(root: str | os.PathLike) -> Path:
    """The metadata CSV (extracted or alone) or the metadata zip inside a release folder."""
    root = user_path(root)
    if root.is_file():
        return root
    candidates = [
        root / METADATA_CSV_PATH,
        root / Path(METADATA_CSV_PATH).name,
        root / METADATA_ZIP_NAME,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise MissingFileError(
        f"no BIOSCAN-5M metadata in {root}: expected one of "
        + ", ".join(str(c.relative_to(root)) for c in candidates)
        + " (run `bioscan-hf download` or `bioscan-hf sample` to get a release)"
    )


@dataclass
class ImageSources:
    """Where the images of one package live: zips (by the splits they hold) and/or an extracted tree."""

    package: str
    zips: dict[Path, frozenset[str]] = field(default_factory=dict)
    folder: Path | None = None

    def splits(self) -> set[str]:
        """Splits for which some image source exists."""
        found: set[str] = set()
        for covered in self.zips.values():
            found |= covered
        if self.folder is not None:
            found |= {s for s in SPLITS if (self.folder / s).is_dir()}
        return found


def find_images(root: str | os.PathLike) -> dict[str, ImageSources]:
    """Image sources per package found in a release folder (packages with none are absent)."""
    root = user_path(root)
    sources: dict[str, ImageSources] = {}
    if not root.is_dir():
        return sources
    for path in sorted(root.iterdir()):
        match = IMAGE_ZIP_PATTERN.match(path.name)
        if match and path.is_file():
            group = match["group"]
            covered = frozenset(SPLIT_GROUPS[group] if group else SPLITS)
            sources.setdefault(match["package"], ImageSources(match["package"])).zips[path] = covered
    for package in IMAGE_PACKAGES:
        folder = root / "bioscan5m" / "images" / package
        if folder.is_dir():
            sources.setdefault(package, ImageSources(package)).folder = folder
    return sources


def available_configs(root: str | os.PathLike) -> dict[str, str]:
    """Every config with the reason it can or cannot be built from `root` ("" when it can)."""
    try:
        find_metadata(root)
    except FileNotFoundError as err:
        return dict.fromkeys(CONFIGS, str(err))
    images = find_images(root)
    status = {}
    for name, (package, splits) in CONFIGS.items():
        if package is None:
            status[name] = ""
            continue
        have = images[package].splits() if package in images else set()
        missing = [s for s in splits if s not in have]
        status[name] = f"no {package} images for split(s) {', '.join(missing)}" if missing else ""
    return status


class ImageStore:
    """Reads image bytes of one package by record, from zips or an extracted tree.

    Zips are opened lazily, once per thread/process; their member lists give the index.
    """

    def __init__(self, sources: ImageSources, verify: bool = True) -> None:
        self.sources = sources
        self.verify = verify
        self._local = threading.local()
        self._index: dict[str, Path] | None = None

    def _member_index(self) -> dict[str, Path]:
        if self._index is None:
            index: dict[str, Path] = {}
            for path in self.sources.zips:
                try:
                    with zipfile.ZipFile(path) as archive:
                        index.update(dict.fromkeys(archive.namelist(), path))
                except (zipfile.BadZipFile, OSError) as err:
                    raise DamagedReleaseError(
                        f"{path}: not a readable zip ({err}): the download is truncated or corrupt. Check it with "
                        f"`bioscan-hf verify {path}` and download it again; its images are not skipped one by one"
                    ) from err
            self._index = index
        return self._index

    def _archive(self, path: Path) -> zipfile.ZipFile:
        opened = self._local.__dict__.setdefault("archives", {})
        if path not in opened:
            opened[path] = zipfile.ZipFile(path)
        return opened[path]

    def member_path(self, processid: str, split: str, chunk: str | None) -> str:
        """The record's image path, checking the metadata's chunk against the md5 rule."""
        rule = expected_chunk(processid, split)
        if chunk is None:
            chunk = rule
        elif chunk != rule:
            raise MissingImageError(
                f"record {processid} (split {split}): metadata chunk {chunk!r} disagrees with the release rule "
                f"(md5 prefix {rule!r}); the metadata row is corrupt"
            )
        return image_member_path(self.sources.package, split, chunk, processid)

    def read(self, processid: str, split: str, chunk: str | None) -> tuple[bytes, str]:
        """Image bytes and member path of one record; raises `MissingImageError` naming both."""
        member = self.member_path(processid, split, chunk)
        data = self._read_member(member, processid)
        if self.verify:
            check_image(data, f"record {processid}: image {member}")
        return data, member

    def _read_member(self, member: str, processid: str) -> bytes:
        zip_path = self._member_index().get(member)
        if zip_path is not None:
            try:
                return self._archive(zip_path).read(member)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as err:
                raise MissingImageError(f"record {processid}: image {member} in {zip_path} is corrupt: {err}") from err
        if self.sources.folder is not None:
            relative = Path(member).relative_to(f"bioscan5m/images/{self.sources.package}")
            path = self.sources.folder / relative
            if path.is_file():
                return path.read_bytes()
        where = [str(p) for p in self.sources.zips] + ([str(self.sources.folder)] if self.sources.folder else [])
        raise MissingImageError(f"record {processid}: image {member} not found in {', '.join(where) or 'the release'}")


def check_image(data: bytes, name: str) -> None:
    """Decode `data` fully (at ⅛ scale for JPEG: every byte of the image is still read), so a truncated
    or garbled image raises `MissingImageError` naming `name`; `Image.verify()` does not catch truncation."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (max(1, image.size[0] // 8), max(1, image.size[1] // 8)))
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise MissingImageError(f"{name} is corrupt or truncated: {err}") from err


def row_count_check(root: str | os.PathLike, rows: int) -> str | None:
    """A warning when the metadata holds another number of rows than its release should (a download cut
    at a row boundary parses cleanly): the generator's manifest for generated releases, else the published
    count. None when they agree."""
    manifest = Path(root) / MANIFEST_NAME if Path(root).is_dir() else None
    if manifest is not None and manifest.is_file():
        info = json.loads(manifest.read_text())
        expected, what = info["rows"], f"its manifest ({info.get('origin', 'generated')})"
    else:
        expected, what = PUBLISHED_ROWS, "the published BIOSCAN-5M release"
    if rows == expected:
        return None
    return (
        f"the metadata holds {rows:,} rows but {what} has {expected:,}: a truncated download or an edited file? "
        f"Check it with `bioscan-hf verify`"
    )


def write_metadata_zip(out: str | os.PathLike, rows: list[dict], origin: str) -> Path:
    """Write metadata rows as the release's metadata zip (CSV inside at the release path), and a manifest
    with the row count and `origin` so a later truncation is noticed (`row_count_check`)."""
    path = Path(out) / METADATA_ZIP_NAME
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(METADATA_COLUMNS), lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})

    def write(partial: Path) -> None:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(METADATA_CSV_PATH, text.getvalue())

    write_atomically(path, write)
    (Path(out) / MANIFEST_NAME).write_text(json.dumps({"rows": len(rows), "origin": origin}))
    return path
