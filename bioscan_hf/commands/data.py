"""Data commands: `sample`, `prepare`, `push`, `download`, `verify`, `import-bold`."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from bioscan_hf.commands.common import Command, scale
from bioscan_hf.core.options import comma_list, option
from bioscan_hf.data.exclusions import EXCLUDE_MIN_SCORE, EXCLUDE_MIN_SCORE_HELP
from bioscan_hf.hub.settings import HubSettings


@dataclass(kw_only=True)
class ExcludeOptions:
    """Records to leave out: the suspects of `bioscan-hf audit`."""

    exclude: str | None = option(
        "a suspects file of `bioscan-hf audit`: its records are left out (each listed; every other record "
        "as without it)",
        None,
    )
    exclude_min_score: float = option(EXCLUDE_MIN_SCORE_HELP, EXCLUDE_MIN_SCORE)

    def excluded(self) -> dict[str, str] | None:
        """processid → why, or None without --exclude."""
        from bioscan_hf.data.exclusions import exclusions

        return exclusions(self.exclude, self.exclude_min_score) if self.exclude else None


@dataclass(kw_only=True)
class SampleOptions:
    out: str = option("folder to write the release into")
    seed: int = option("random seed (same seed → same files)", 0)
    scale: str = option("small (2,000 records), medium (20,000) or a number", "small")
    no_images: bool = option("write the metadata only", False)
    overwrite: bool = option(
        "write into a folder holding files sample did not write (a real release: same-named zips are replaced)", False
    )


def run_sample(o: SampleOptions) -> None:
    from bioscan_hf.data.sample import write_sample_release

    path = write_sample_release(o.out, scale(o.scale), o.seed, images=not o.no_images, overwrite=o.overwrite)
    print(f"synthetic release written to {path}")


#: What `prepare` does with a missing or corrupt image.
ERRORS = ("error", "skip")


@dataclass(kw_only=True)
class PrepareOptions(ExcludeOptions):
    release: str = option("release folder: zips as downloaded, extracted, or a mix")
    out: str = option("output folder (the future Hub repo)")
    configs: str | None = option("comma-separated configs (default: every config whose files are present)", None)
    num_proc: int | None = option("parallel worker processes", None)
    max_shard_size: str = option("Parquet shard size bound (default 500MB)", "500MB")
    on_missing_image: str = option(
        "a missing or corrupt image stops the run (error) or is skipped and listed (skip)", "error", choices=ERRORS
    )
    overwrite: bool = option(
        "rebuild configs that are already finished, and write into a folder holding files prepare did not write "
        "(same-named files are replaced; no other file is deleted)",
        False,
    )
    repo_id: str = option("repo id used in the card's usage example", "bioscan-5m")


def run_prepare(o: PrepareOptions) -> None:
    from bioscan_hf.data.publish import prepare

    summary = prepare(
        o.release,
        o.out,
        configs=comma_list(o.configs) or None,
        num_proc=o.num_proc,
        max_shard_size=o.max_shard_size,
        on_missing_image=o.on_missing_image,
        overwrite=o.overwrite,
        repo_id=o.repo_id,
        exclude=o.excluded(),
    )
    if len(summary["excluded"]):
        print(f"excluded {len(summary['excluded']):,} suspect record(s), listed in {o.out}/excluded_records.tsv")
    for name, why in summary["skipped"].items():
        print(f"skipped {name}: {why}")
    for name, why in summary["rebuilt"].items():
        print(f"rebuilt {name}: {why}")
    for name, missing in summary["skipped_images"].items():
        print(f"{name}: {len(missing)} record(s) skipped for missing/corrupt images, e.g.")
        for line in missing[:5]:
            print(f"  {line}")
        print(f"  (all listed in {o.out}/data/{name}/_complete.json and in the dataset card)")
    for warning in summary["warnings"]:
        print(f"WARNING: {warning}", file=sys.stderr)
    print(f"built: {', '.join(summary['built']) or '-'}; reused: {', '.join(summary['reused']) or '-'}")
    print(f"load it with: datasets.load_dataset({o.out!r}, 'CONFIG', split='test')")


@dataclass(kw_only=True)
class PushInputs:
    folder: str = option("folder written by `bioscan-hf prepare`", positional=True)


def run_push(inputs: PushInputs, hub: HubSettings) -> None:
    from bioscan_hf.hub.upload import push_dataset

    print(f"uploaded to {push_dataset(inputs.folder, hub)}")


@dataclass(kw_only=True)
class DownloadOptions:
    out: str = option("folder to download into")
    packages: str = option("comma-separated 256 px image packages: cropped_256,original_256", "")
    file: list[str] = option("a release file name to fetch (repeatable)", [], append=True)
    mirror: list[str] = option(
        "URL template with {name}, tried in order (default: Zenodo record 11973457)", [], append=True
    )


def run_download(o: DownloadOptions) -> None:
    from bioscan_hf.data.download import DEFAULT_MIRRORS, download_file, release_file_names

    for name in o.file or release_file_names(comma_list(o.packages)):
        print(f"have {download_file(name, o.out, mirrors=o.mirror or DEFAULT_MIRRORS)}")


@dataclass(kw_only=True)
class VerifyOptions:
    files: list[str] = option("release files to check (e.g. BIOSCAN_5M_cropped_256.zip)", positional="+")
    md5: str | None = option("expected digest (default: the published one for the file name)", None)


def run_verify(o: VerifyOptions) -> None:
    from bioscan_hf.data.checksums import verify_md5

    for path in o.files:
        print(f"{path}: ok ({verify_md5(path, o.md5)})")


@dataclass(kw_only=True)
class ImportBoldOptions(ExcludeOptions):
    tsv: list[str] = option("BOLD combined TSV export(s)", positional="+")
    out: str = option("folder for the metadata zip and import_report.tsv")
    undescribed_fraction: float = option(
        "share of species given placeholder names, so unseen/heldout splits exist (default 0.2)", 0.2
    )
    unlabelled_fraction: float = option("share of records whose species label is removed (they go to pretrain)", 0.0)
    seed: int = option("random seed of the partition (same seed → same splits)", 0)
    keep_conflicts: bool = option(
        "keep conflicting annotations of one barcode as exported (default: the paper's rule — per rank, the "
        "majority value if ≥ 90%% of the barcode's records agree, else the annotation is cut there; every "
        "change is listed in import_report.tsv)",
        False,
    )
    overwrite: bool = option(
        "write into a folder holding files import-bold did not write (same-named files are replaced)", False
    )


def run_import_bold(o: ImportBoldOptions) -> None:
    from bioscan_hf.data.bold import import_bold

    report = import_bold(
        o.tsv,
        o.out,
        o.undescribed_fraction,
        o.unlabelled_fraction,
        o.seed,
        resolve_conflicts=not o.keep_conflicts,
        exclude=o.excluded(),
        overwrite=o.overwrite,
    )
    print(report.summary())


COMMANDS: dict[str, Command] = {
    "sample": Command(
        SampleOptions,
        run_sample,
        "Generate a deterministic, synthetic BIOSCAN-5M release: the metadata zip and zips for all four image "
        "packages. Synthetic data, for trying the toolkit.",
    ),
    "prepare": Command(
        PrepareOptions,
        run_prepare,
        "Build Parquet shards per config and split, plus a README.md dataset card, so that "
        "datasets.load_dataset(OUT, CONFIG, split=...) works offline. Finished configs are reused when re-run; "
        "an interrupted config restarts.",
    ),
    "push": Command((PushInputs, HubSettings), run_push, "Upload a prepared dataset folder to the Hugging Face Hub."),
    "download": Command(DownloadOptions, run_download, "Download release files (mirrors, resume, md5 check)."),
    "verify": Command(VerifyOptions, run_verify, "Check release files against their published md5 digests (cached)."),
    "import-bold": Command(
        ImportBoldOptions,
        run_import_bold,
        "Read BOLD exports (.tsv or .tsv.gz), keep every COI-5P row with a barcode, resolve conflicting "
        "annotations of one barcode, apply BIOSCAN-5M's partition rules and write a metadata zip. Unusable rows "
        "(skipped) and changed rows are listed with their file and line in OUT/import_report.tsv.",
    ),
}
