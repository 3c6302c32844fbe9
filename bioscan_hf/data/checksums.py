"""md5 verification of release archives, cached per file so a 200 GB release is hashed once."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from bioscan_hf.core.console import progress_bar
from bioscan_hf.core.errors import UserError
from bioscan_hf.core.outputs import write_atomically
from bioscan_hf.core.paths import cache_dir
from bioscan_hf.data.schema import PUBLISHED_MD5
from bioscan_hf.data.staging import file_key

CHUNK = 8 << 20


class ChecksumError(UserError, ValueError):
    """A file's md5 digest differs from the published one."""


def _cache_path() -> Path:
    return cache_dir() / "md5.json"


def _load_cache() -> dict[str, str]:
    path = _cache_path()
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def md5sum(path: str | os.PathLike, use_cache: bool = True, progress: bool = True) -> str:
    """The md5 hex digest of a file; cached by (path, size, mtime) so unchanged files are not re-read."""
    path = Path(path)
    key = file_key(path)
    cache = _load_cache() if use_cache else {}
    if key in cache:
        return cache[key]
    digest = hashlib.md5()
    with (
        open(path, "rb") as handle,
        progress_bar(
            total=path.stat().st_size, unit="B", unit_scale=True, desc=f"md5 {path.name}", disable=not progress
        ) as bar,
    ):
        while block := handle.read(CHUNK):
            digest.update(block)
            bar.update(len(block))
    value = digest.hexdigest()
    if use_cache:
        cache = _load_cache()
        cache[key] = value
        write_atomically(_cache_path(), lambda path: path.write_text(json.dumps(cache)))
    return value


def verify_md5(path: str | os.PathLike, expected: str | None = None, progress: bool = True) -> str:
    """Check a file against `expected` (or its published digest); raise `ChecksumError` on mismatch."""
    path = Path(path)
    expected = expected or PUBLISHED_MD5.get(path.name)
    if expected is None:
        raise ChecksumError(f"{path}: no published md5 known for {path.name!r}; pass the expected digest")
    actual = md5sum(path, progress=progress)
    if actual != expected.lower():
        raise ChecksumError(f"{path}: md5 mismatch: expected {expected.lower()}, actual {actual} (corrupt download?)")
    return actual
