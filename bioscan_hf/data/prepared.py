"""Opening a dataset folder written by `bioscan-hf prepare`: which configs are complete, and loading one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import datasets

from bioscan_hf.data.release import CONFIGS
from bioscan_hf.paths import user_path

#: Written into `data/CONFIG/` when a config's shards and card entry are complete.
COMPLETE_MARKER = "_complete.json"


def completed_configs(out: str | os.PathLike) -> dict[str, dict]:
    """The finished configs of a prepared folder, in the canonical order, with their markers."""
    out = Path(out)
    done = {}
    for name in CONFIGS:
        marker = out / "data" / name / COMPLETE_MARKER
        if marker.exists():
            done[name] = json.loads(marker.read_text())
    return done


def load_prepared(folder: str | os.PathLike, config: str = "metadata") -> datasets.DatasetDict:
    """Open a config of a prepared dataset folder with `load_dataset` (clear error if it is not one)."""
    folder = user_path(folder)
    if not (folder / "README.md").exists() or not completed_configs(folder):
        raise FileNotFoundError(f"{folder} is not a prepared dataset folder; run `bioscan-hf prepare` first")
    if config not in completed_configs(folder):
        raise ValueError(f"{folder} has no {config!r} config; it has {', '.join(completed_configs(folder))}")
    return datasets.load_dataset(str(folder), config)
