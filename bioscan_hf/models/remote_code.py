"""Model folders that load with `trust_remote_code=True` in a Python without bioscan-hf.

transformers copies a model's module file, and the modules it imports relatively from its own package,
into a saved folder. CLIBD's modules also import BarcodeBERT's from the sibling package (`..barcodebert`),
which transformers cannot follow; `save_flat_modules` writes every module the model needs beside
`config.json`, with `from ..package.module import` (and `from ..module import`) rewritten to
`from .module import`.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

_SIBLING_IMPORT = re.compile(r"^from \.\.(?:\w+\.)?(\w+) import", re.MULTILINE)


def save_flat_modules(folder: str | os.PathLike, modules: Iterable[ModuleType]) -> list[str]:
    """Copy the source of `modules` into `folder`, sibling-package imports made folder-local; returns the
    file names written."""
    written = []
    for module in modules:
        source = Path(module.__file__)
        (Path(folder) / source.name).write_text(_SIBLING_IMPORT.sub(r"from .\1 import", source.read_text()))
        written.append(source.name)
    return written


def push_finished_folder(obj: object, save_directory: str | os.PathLike, kwargs: dict) -> None:
    """`save_pretrained(..., push_to_hub=True)` for objects that add files after transformers' own save
    (which would upload before them): `obj.push_to_hub`, which saves afresh, with the hub options given."""
    accepted = inspect.signature(obj.push_to_hub).parameters
    repo_id = kwargs.pop("repo_id", Path(save_directory).name)
    obj.push_to_hub(repo_id, **{key: value for key, value in kwargs.items() if key in accepted})
