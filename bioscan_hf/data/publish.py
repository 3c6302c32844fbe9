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

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import datasets
import pandas as pd
import pyarrow.parquet as pq
from datasets.exceptions import DatasetGenerationError
from huggingface_hub import DatasetCard, DatasetCardData

from bioscan_hf.core.console import SHORT_STEP_RECORDS, short_library_bars_hidden, status
from bioscan_hf.core.errors import InputError, UserError
from bioscan_hf.core.outputs import claim_output_folder, release_output_folder, swap_in, write_atomically
from bioscan_hf.core.paths import existing_path, user_path
from bioscan_hf.data.builder import _CITATION, _DESCRIPTION, ON_MISSING_IMAGE, RECORDS_PER_SHARD, Bioscan5M
from bioscan_hf.data.metadata import MetadataError
from bioscan_hf.data.prepared import COMPLETE_MARKER, completed_configs
from bioscan_hf.data.release import (
    CONFIGS,
    MANIFEST_NAME,
    DamagedReleaseError,
    MissingImageError,
    available_configs,
    find_images,
    find_metadata,
    resolve_config,
    row_count_check,
)
from bioscan_hf.data.staging import file_key, release_summary, stage_splits

#: Bumped when the layout of a config's output changes, so older outputs are rebuilt, not reused.
OUTPUT_VERSION = 3
DEFAULT_MAX_SHARD_SIZE = "500MB"

CARD_TEMPLATE = """---
{{ card_data }}
---

# BIOSCAN-5M

{{ description }}

Prepared with [bioscan-hf](https://github.com/bioscan-hf/bioscan-hf) from the release files; the
taxonomic ranks and `dna_bin` are `ClassLabel`s whose names are code-point sorted over the whole
metadata file (−1 = missing), as in the `bioscan-dataset` package, so indices agree across splits.
Each has its name beside it as text (`order_name`, …, `dna_bin_name`: what DuckDB or Polars read without
this card), and `metadata_row` is the record's row in the release metadata file. `split="all"` and splits
joined with `+` load as they are; `bioscan_hf.data.selection.load_split` also takes `validation`, `seen`
and `unseen`.

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


class PrepareError(UserError, RuntimeError):
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
    exclude: Mapping[str, str] | None = None,
) -> dict:
    """Build each config into `out` (resuming finished ones) and write the card; returns a summary.

    `exclude`: processid → why, records left out of every config (e.g. the suspects of `bioscan-hf audit`);
    each is listed in `out/excluded_records.tsv` and counted in the card, and every other record is
    written as without it. An id the release does not hold is an error (a list for another library)."""
    if on_missing_image not in ON_MISSING_IMAGE:
        raise InputError(f"on_missing_image must be one of {', '.join(ON_MISSING_IMAGE)}, got {on_missing_image!r}")
    release, out = existing_path(release, "release folder"), user_path(out)
    chosen, skipped = plan_configs(release, configs)
    chosen.sort(key=list(CONFIGS).index)  # whole packages first: their split groups can then point at them
    metadata = find_metadata(release)
    created = claim_output_folder(out, "prepare", overwrite)
    try:
        counts = release_summary(metadata)["split_counts"]
        if not sum(counts.values()):
            raise PrepareError(f"{metadata}: no record (a header alone?); nothing was written. Give the full metadata")
        warning = row_count_check(release, sum(counts.values()))  # the release as published, before exclusion
        excluded = locate_excluded(metadata, exclude or {})
        for split in excluded["split"]:
            counts[split] -= 1
        summary: dict = {"built": [], "reused": [], "rebuilt": {}, "skipped": skipped, "skipped_images": {}}
        summary["excluded"] = excluded
        summary["warnings"] = [warning] if warning else []
        ids = tuple(sorted(excluded["processid"]))
        for name in chosen:
            _prepare_config(
                release, out, name, counts, summary, num_proc, max_shard_size, on_missing_image, overwrite, ids
            )
            if (release / MANIFEST_NAME).is_file():  # a generated release: its origin travels with the dataset
                shutil.copy(release / MANIFEST_NAME, out / MANIFEST_NAME)
            write_card(out, repo_id=repo_id, warnings=summary["warnings"], excluded=len(excluded))  # usable at once
        _write_excluded(out, excluded)
    finally:  # a failed run leaves nothing half-made: its staging goes, and a folder it created and left empty
        shutil.rmtree(out / ".staging", ignore_errors=True)
        release_output_folder(out, created)
    return summary


def _prepare_config(
    release: Path,
    out: Path,
    name: str,
    counts: dict[str, int],
    summary: dict,
    num_proc: int | None,
    max_shard_size,
    on_missing_image: str,
    overwrite: bool,
    exclude: tuple[str, ...] = (),
) -> None:
    """Reuse, alias or build one config into `out/data/NAME`; a finished config is replaced only by a
    complete one (a failed rebuild keeps it, and the error says so)."""
    target = out / "data" / name
    fingerprint = config_fingerprint(release, name, on_missing_image, exclude)
    stale = _stale_reason(target, fingerprint)
    finished = (target / COMPLETE_MARKER).exists()
    if finished and not (overwrite or stale):
        summary["reused"].append(name)
    else:
        try:
            if not _alias_split_group(out, name, fingerprint):
                records = sum(counts.get(split, 0) for split in CONFIGS[name][1])
                status(f"preparing {name} ({records:,} records)")
                with short_library_bars_hidden(records < SHORT_STEP_RECORDS):  # else a bar per split
                    _build_config(release, out, name, num_proc, max_shard_size, on_missing_image, fingerprint, exclude)
        except (ValueError, OSError, RuntimeError) as err:
            if finished:
                raise _kept(err, name) from err
            raise
        if stale and not overwrite:
            summary["rebuilt"][name] = stale
        summary["built"].append(name)
    marker = json.loads((target / COMPLETE_MARKER).read_text())
    if marker["skipped_images"]:
        summary["skipped_images"][name] = marker["skipped_images"]
    summary["warnings"] += _row_shortfall(name, marker, counts)


def _kept(err: Exception, name: str) -> Exception:
    """The same error, saying that the finished config a previous run built was kept."""
    note = f"; the {name} config a previous run finished was kept as it was (it does not match these inputs)"
    try:
        return type(err)(f"{err}{note}")
    except TypeError:
        return err


def is_config_file(path: Path) -> bool:
    """Whether a file in `data/CONFIG/` is one prepare writes (a shard or the completion marker)."""
    return path.name == COMPLETE_MARKER or re.fullmatch(r"\w+-\d{5}-of-\d{5}\.parquet", path.name) is not None


def config_fingerprint(release: Path, name: str, on_missing_image: str, exclude: tuple[str, ...] = ()) -> str:
    """What a built config depends on: the metadata file, the image files of its package, the options
    (the records excluded among them) and the output version. A finished config is reused only while this
    is unchanged."""
    package, _ = CONFIGS[name]
    parts = [str(OUTPUT_VERSION), file_key(find_metadata(release)), on_missing_image if package else ""]
    if exclude:
        parts.append(hashlib.sha1("\n".join(exclude).encode()).hexdigest())
    sources = find_images(release).get(package) if package else None
    if sources is not None:
        parts += [file_key(path) for path in sorted(sources.zips)]
        if sources.folder is not None:
            folders = [sources.folder, *sorted(p for p in sources.folder.iterdir() if p.is_dir())]
            parts += [f"{p.resolve()}|{p.stat().st_mtime_ns}" for p in folders]
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def _stale_reason(target: Path, fingerprint: str) -> str | None:
    marker = target / COMPLETE_MARKER
    if not marker.exists():
        return None
    if json.loads(marker.read_text()).get("fingerprint") != fingerprint:
        return "the release files or the options changed since it was built"
    return None


def _row_shortfall(name: str, marker: dict, counts: dict[str, int]) -> list[str]:
    """Warnings for splits of a finished config holding fewer records than the metadata lists."""
    built = {s["name"]: s["num_examples"] for s in marker["dataset_info"]["splits"]}
    short = {s: (built.get(s, 0), counts[s]) for s in CONFIGS[name][1] if built.get(s, 0) != counts.get(s, 0)}
    if not short:
        return []
    where = ", ".join(f"{s} {have:,} of {want:,}" for s, (have, want) in short.items())
    return [f"{name} holds fewer records than the metadata ({where}): {len(marker['skipped_images'])} skipped images"]


def _alias_split_group(out: Path, name: str, fingerprint: str) -> bool:
    """Make a split-group config (e.g. `cropped_256_eval`) point at its whole package's finished shards
    instead of writing the same images twice; False when the package is not built in `out`."""
    package, splits = CONFIGS[name]
    source = out / "data" / str(package) / COMPLETE_MARKER
    if package is None or package == name or not source.exists():
        return False
    marker = json.loads(source.read_text())
    info = dict(marker["dataset_info"], splits=[s for s in marker["dataset_info"]["splits"] if s["name"] in splits])
    skipped = [line for line in marker["skipped_images"] if _skipped_split(line) in splits]
    alias = {
        "config": name,
        "alias_of": package,
        "dataset_info": info,
        "skipped_images": skipped,
        "fingerprint": fingerprint,
    }
    staging = out / ".staging" / name
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "data").mkdir(parents=True)
    (staging / "data" / COMPLETE_MARKER).write_text(json.dumps(alias))
    swap_in(staging / "data", out / "data" / name, is_config_file, staging / "old", COMPLETE_MARKER)
    return True


def _skipped_split(line: str) -> str:
    """The split of a skipped-image line (`processid<TAB>split<TAB>reason`)."""
    return line.split("\t")[1]


def _build_config(
    release: Path,
    out: Path,
    name: str,
    num_proc: int | None,
    max_shard_size,
    on_missing_image: str,
    fingerprint: str,
    exclude: tuple[str, ...] = (),
) -> None:
    staging = out / ".staging" / name
    shutil.rmtree(staging, ignore_errors=True)  # an interrupted earlier attempt restarts cleanly
    builder = Bioscan5M(
        config_name=name,
        data_dir=str(release),
        cache_dir=str(staging / "cache"),
        on_missing_image=on_missing_image,
        report_dir=str(staging / "reports"),
        exclude=exclude,
    )
    build = staging / "build"
    try:
        builder.download_and_prepare(
            output_dir=str(build), file_format="parquet", max_shard_size=max_shard_size, num_proc=num_proc
        )
    except DatasetGenerationError as err:
        # Surface our own error (it names the record and the problem) rather than datasets' wrapper.
        cause = err.__cause__
        if isinstance(cause, (MissingImageError, MetadataError, DamagedReleaseError)):
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
    info = builder.info._to_yaml_dict()
    if skipped and not sum(s["num_examples"] for s in info["splits"]):
        raise PrepareError(
            f"{name}: every one of its {len(skipped):,} images was unreadable (first: {skipped[0]}); "
            "nothing was written. Check the image files with `bioscan-hf verify` and download them again"
        )
    marker = {"config": name, "dataset_info": info, "skipped_images": skipped, "fingerprint": fingerprint}
    (folder / COMPLETE_MARKER).write_text(json.dumps(marker))
    # the marker moves in last, so the config looks complete only once every shard is in place
    swap_in(folder, out / "data" / name, is_config_file, staging / "old", COMPLETE_MARKER)
    shutil.rmtree(staging, ignore_errors=True)


#: The list of records a curated copy leaves out (`prepare --exclude`), in the output folder.
EXCLUDED_FILE = "excluded_records.tsv"


def locate_excluded(metadata: Path, exclude: Mapping[str, str]) -> pd.DataFrame:
    """The records to exclude with their split and why (processid, split, reason), in release order; an
    id the release does not hold is a `PrepareError` naming the first few."""
    found = []
    if exclude:
        for split, (path, _) in stage_splits(metadata, RECORDS_PER_SHARD).items():
            ids = pq.read_table(path, columns=["processid"]).column(0).to_pylist()
            found += [(pid, split, exclude[pid]) for pid in ids if pid in exclude]
    unknown = sorted(set(exclude) - {pid for pid, _, _ in found})
    if unknown:
        raise PrepareError(
            f"{len(unknown)} record(s) to exclude are not in {metadata} (first: {', '.join(unknown[:5])}); the "
            "list was written for another library: audit this release (or its prepared dataset) and exclude "
            "its suspects"
        )
    return pd.DataFrame(found, columns=["processid", "split", "reason"])


def _write_excluded(out: Path, excluded: pd.DataFrame) -> None:
    """List the excluded records in `out` (a list of an earlier curated run goes when none are)."""
    path = out / EXCLUDED_FILE
    if len(excluded):
        write_atomically(path, lambda partial: excluded.to_csv(partial, sep="\t", index=False))
    else:
        path.unlink(missing_ok=True)


def write_card(
    out: str | os.PathLike, repo_id: str = "bioscan-5m", warnings: list[str] = (), excluded: int = 0
) -> Path:
    """Write README.md with YAML `configs` (data_files per split) and `dataset_info` per config; records
    skipped, `excluded` on purpose and `warnings` (row counts that disagree) are stated in the card's text."""
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
    notes = [
        f"- `{name}`: {len(m['skipped_images']):,} record(s) left out because their image could not be read "
        f"(first: `{m['skipped_images'][0].split(chr(9))[0]}`); `data/{name}/{COMPLETE_MARKER}` lists them all."
        for name, m in done.items()
        if m["skipped_images"]
    ]
    if excluded:
        notes.append(
            f"- {excluded:,} record(s) left out on purpose, as suspects of a curation audit "
            f"(`bioscan-hf audit`); `{EXCLUDED_FILE}` lists each with its split and why."
        )
    notes += [f"- {w}" for w in warnings]
    provenance = ("**Records missing from this copy:**\n\n" + "\n".join(notes)) if notes else ""
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
    write_atomically(out / "README.md", lambda partial: card.save(partial))
    return out / "README.md"
