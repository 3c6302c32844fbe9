"""Turn a release into a Hub-ready dataset folder: Parquet shards per config and split, and a card.

The folder loads offline with `datasets.load_dataset(folder, config, split=...)` (also streaming):
datasets ≥ 4 runs no loading scripts, so the builder runs here and the Hub gets Parquet plus YAML.

Layout written:
    README.md                                   card; YAML `configs` + `dataset_info`, written last
    data/{config}/{split}-00000-of-00003.parquet
    data/{config}/_complete.json                marks a finished config (resume skips it)
    .staging/                                   work in progress; hidden, so never loaded
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import datasets
from datasets.exceptions import DatasetGenerationError
from huggingface_hub import DatasetCard, DatasetCardData

from bioscan_hf.data.builder import _CITATION, _DESCRIPTION, ON_MISSING_IMAGE, Bioscan5M
from bioscan_hf.data.metadata import MetadataError
from bioscan_hf.data.release import CONFIGS, MissingImageError, available_configs, resolve_config
from bioscan_hf.hub import upload_folder

COMPLETE_MARKER = "_complete.json"
DEFAULT_MAX_SHARD_SIZE = "500MB"

CARD_TEMPLATE = """---
{{ card_data }}
---

# BIOSCAN-5M

{{ description }}

Prepared with [bioscan-hf](https://github.com/bioscan-hf/bioscan-hf) from the release files; the
taxonomic ranks and `dna_bin` are `ClassLabel`s whose names are code-point sorted over the whole
metadata file (−1 = missing), as in the `bioscan-dataset` package, so indices agree across splits.

{{ provenance }}

```python
from datasets import load_dataset
test = load_dataset("{{ repo }}", "{{ example_config }}", split="test")
species = test.features["species"].int2str(test[0]["species"])
```

Configs: {{ configs }}.

Licence: CC BY 3.0 (CBG Photography Group, Centre for Biodiversity Genomics).

```bibtex
{{ citation }}
```
"""


class PrepareError(RuntimeError):
    """A requested config cannot be built from the release."""


def plan_configs(release: str | os.PathLike, configs: Iterable[str] | None) -> tuple[list[str], dict[str, str]]:
    """Configs to build and those skipped (with why). Explicitly named configs must be buildable."""
    status = available_configs(release)
    if configs is None:
        chosen = [name for name, why in status.items() if not why]
        skipped = {name: why for name, why in status.items() if why}
    else:
        chosen = [resolve_config(name) for name in configs]
        missing = {name: status[name] for name in chosen if status[name]}
        if missing:
            raise PrepareError(
                "cannot build "
                + "; ".join(f"{name}: {why}" for name, why in missing.items())
                + f" (release folder {release})"
            )
        skipped = {}
    if not chosen:
        raise PrepareError(f"nothing to build from {release}: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    return chosen, skipped


def prepare(
    release: str | os.PathLike,
    out: str | os.PathLike,
    configs: Iterable[str] | None = None,
    num_proc: int | None = None,
    max_shard_size: str | int = DEFAULT_MAX_SHARD_SIZE,
    on_missing_image: str = "error",
    overwrite: bool = False,
    repo_id: str = "bioscan-5m",
) -> dict:
    """Build each config into `out` (resuming finished ones) and write the card; returns a summary."""
    if on_missing_image not in ON_MISSING_IMAGE:
        raise ValueError(f"on_missing_image must be one of {', '.join(ON_MISSING_IMAGE)}, got {on_missing_image!r}")
    release, out = Path(release), Path(out)
    chosen, skipped = plan_configs(release, configs)
    chosen.sort(key=list(CONFIGS).index)  # whole packages first: their split groups can then point at them
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"built": [], "reused": [], "skipped": skipped, "skipped_images": {}}
    for name in chosen:
        target = out / "data" / name
        if overwrite and target.exists():
            shutil.rmtree(target)
        if (target / COMPLETE_MARKER).exists():
            summary["reused"].append(name)
        elif _alias_split_group(out, name):
            summary["built"].append(name)
        else:
            _build_config(release, out, name, num_proc, max_shard_size, on_missing_image)
            summary["built"].append(name)
        missing = json.loads((target / COMPLETE_MARKER).read_text())["skipped_images"]
        if missing:
            summary["skipped_images"][name] = missing
        write_card(out, repo_id=repo_id)  # after every config, so a finished config is usable at once
    shutil.rmtree(out / ".staging", ignore_errors=True)
    return summary


def _alias_split_group(out: Path, name: str) -> bool:
    """Make a split-group config (e.g. `cropped_256_eval`) point at its whole package's finished shards
    instead of writing the same images twice; False when the package is not built in `out`."""
    package, splits = CONFIGS[name]
    source = out / "data" / str(package) / COMPLETE_MARKER
    if package is None or package == name or not source.exists():
        return False
    marker = json.loads(source.read_text())
    info = dict(marker["dataset_info"], splits=[s for s in marker["dataset_info"]["splits"] if s["name"] in splits])
    alias = {"config": name, "alias_of": package, "dataset_info": info, "skipped_images": []}
    (out / "data" / name).mkdir(parents=True, exist_ok=True)
    (out / "data" / name / COMPLETE_MARKER).write_text(json.dumps(alias))
    return True


def _build_config(
    release: Path, out: Path, name: str, num_proc: int | None, max_shard_size, on_missing_image: str
) -> None:
    staging = out / ".staging" / name
    shutil.rmtree(staging, ignore_errors=True)  # an interrupted earlier attempt restarts cleanly
    builder = Bioscan5M(
        config_name=name,
        data_dir=str(release),
        cache_dir=str(staging / "cache"),
        on_missing_image=on_missing_image,
        report_dir=str(staging / "reports"),
    )
    build = staging / "build"
    try:
        builder.download_and_prepare(
            output_dir=str(build), file_format="parquet", max_shard_size=max_shard_size, num_proc=num_proc
        )
    except DatasetGenerationError as err:
        # Surface our own error (it names the record and the problem) rather than datasets' wrapper.
        cause = err.__cause__
        if isinstance(cause, (MissingImageError, MetadataError)):
            raise cause from None
        raise
    folder = staging / "data"
    folder.mkdir(parents=True)
    for split in builder.info.splits:
        files = sorted(build.glob(f"*-{split}.parquet")) + sorted(build.glob(f"*-{split}-*.parquet"))
        for i, path in enumerate(files):
            path.rename(folder / f"{split}-{i:05d}-of-{len(files):05d}.parquet")
    skipped = []
    for report in sorted((staging / "reports").glob("*.json")):
        skipped.extend(json.loads(report.read_text()))
    marker = {"config": name, "dataset_info": builder.info._to_yaml_dict(), "skipped_images": skipped}
    (folder / COMPLETE_MARKER).write_text(json.dumps(marker))
    target = out / "data" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    folder.rename(target)  # atomic: the config appears complete or not at all
    shutil.rmtree(staging, ignore_errors=True)


def completed_configs(out: str | os.PathLike) -> dict[str, dict]:
    """The finished configs of a prepared folder, in the canonical order, with their markers."""
    out = Path(out)
    done = {}
    for name in CONFIGS:
        marker = out / "data" / name / COMPLETE_MARKER
        if marker.exists():
            done[name] = json.loads(marker.read_text())
    return done


def write_card(out: str | os.PathLike, repo_id: str = "bioscan-5m") -> Path:
    """Write README.md with YAML `configs` (data_files per split) and `dataset_info` per config."""
    out = Path(out)
    done = completed_configs(out)
    if not done:
        raise PrepareError(f"no finished config in {out}")
    default = next((c for c in ("cropped_256", "metadata") if c in done), next(iter(done)))
    configs_yaml, infos = [], datasets.info.DatasetInfosDict()
    for name, marker in done.items():
        # A split with no records (possible in small or filtered releases) is left out of the card.
        marker["dataset_info"]["splits"] = [s for s in marker["dataset_info"]["splits"] if s["num_examples"]]
        info = datasets.DatasetInfo._from_yaml_dict(marker["dataset_info"])
        splits = [s["name"] for s in marker["dataset_info"]["splits"]]
        entry = {
            "config_name": name,
            "data_files": [{"split": s, "path": f"data/{marker.get('alias_of', name)}/{s}-*.parquet"} for s in splits],
        }
        if name == default:
            entry["default"] = True
        configs_yaml.append(entry)
        infos[name] = info
    card_data = DatasetCardData(
        configs=configs_yaml,
        license="cc-by-3.0",
        task_categories=["image-classification", "zero-shot-classification"],
        tags=["biology", "biodiversity", "insects", "dna-barcodes", "bioscan"],
        pretty_name="BIOSCAN-5M",
    )
    infos.to_dataset_card_data(card_data)
    skipped = sum(len(m["skipped_images"]) for m in done.values())
    provenance = "Images that could not be read were skipped: " + str(skipped) if skipped else ""
    card = DatasetCard.from_template(
        card_data,
        template_str=CARD_TEMPLATE,
        description=_DESCRIPTION,
        provenance=provenance,
        repo=repo_id,
        example_config=default,
        configs=", ".join(f"`{c}`" for c in done),
        citation=_CITATION,
    )
    tmp = out / "README.md.tmp"
    card.save(tmp)
    tmp.replace(out / "README.md")
    return out / "README.md"


def push(folder: str | os.PathLike, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Upload a prepared folder to a Hub dataset repo (created if needed); returns the repo URL."""
    folder = Path(folder)
    if not (folder / "README.md").exists() or not completed_configs(folder):
        raise PrepareError(f"{folder} is not a prepared dataset folder (run `bioscan-hf prepare` first)")
    return upload_folder(
        folder,
        repo_id,
        repo_type="dataset",
        token=token,
        private=private,
        ignore_patterns=[".staging/*", ".staging/**"],
        message="Upload BIOSCAN-5M prepared with bioscan-hf",
    )


def load_prepared(folder: str | os.PathLike, config: str = "metadata") -> datasets.DatasetDict:
    """Open a config of a prepared dataset folder with `load_dataset` (clear error if it is not one)."""
    folder = Path(folder)
    if not (folder / "README.md").exists() or not completed_configs(folder):
        raise FileNotFoundError(f"{folder} is not a prepared dataset folder; run `bioscan-hf prepare` first")
    if config not in completed_configs(folder):
        raise ValueError(f"{folder} has no {config!r} config; it has {', '.join(completed_configs(folder))}")
    return datasets.load_dataset(str(folder), config)
