"""The main job: get a release (embedded sample, a user's release, or BOLD exports), publish it as a
Hub-ready dataset, open it with `load_dataset`, and report what is in it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import datasets

from bioscan_hf.data.bold import import_bold
from bioscan_hf.data.publish import prepare
from bioscan_hf.data.report import markdown_table, plot_orders_per_split, rank_table, split_table
from bioscan_hf.data.sample import write_sample_release

SYNTHETIC_NOTE = (
    "**Synthetic data.** The embedded sample is generated: its barcodes evolve along a made-up taxonomy and "
    "its images are drawn, so the numbers below describe the generator, not real insects."
)
REAL_BOLD_NOTE = (
    "**Real barcodes, no images.** Records come from public BOLD exports; species marked undescribed and "
    "records made unlabelled were chosen at random to create BIOSCAN-5M's unseen and pretrain partitions."
)


def run_demo(
    out: str | os.PathLike = "demo_out",
    release: str | os.PathLike | None = None,
    bold: Sequence[str | os.PathLike] = (),
    scale: str | int = "small",
    seed: int = 0,
    num_proc: int | None = None,
) -> Path:
    """Run the pipeline end to end and write `out/report.md`; returns the report's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    notes = []
    if release is not None:
        source, configs = Path(release), None
        notes.append(f"Release folder: `{source}`.")
    elif bold:
        source, configs = out / "release", ["metadata"]
        report = import_bold(bold, source, unlabelled_fraction=0.3, seed=seed)
        print(report.summary())
        notes.append(REAL_BOLD_NOTE)
    else:
        source, configs = out / "release", ["metadata", "cropped_256"]
        print(f"[1/3] generating the embedded sample ({scale}) in {source}")
        write_sample_release(source, scale=scale, seed=seed)
        notes.append(SYNTHETIC_NOTE)
    print(f"[2/3] preparing a Hub-ready dataset in {out / 'dataset'}")
    summary = prepare(source, out / "dataset", configs=configs, num_proc=num_proc)
    for name, why in summary["skipped"].items():
        print(f"  skipped config {name}: {why}")
    print("[3/3] opening it with datasets.load_dataset and writing the report")
    data = datasets.load_dataset(str(out / "dataset"), "metadata")
    plot = plot_orders_per_split(data, out / "orders_per_split.png")
    text = "\n\n".join(
        [
            "# BIOSCAN-5M dataset report",
            *notes,
            f"Prepared dataset: `{out / 'dataset'}` (configs: {', '.join(summary['built'] + summary['reused'])}).",
            'Open it with `datasets.load_dataset("' + str(out / "dataset") + '", "metadata", split="test")`.',
            "## Records per split (cf. the paper's Table 3)",
            markdown_table(split_table(data)),
            "## Labelled categories per rank (cf. the paper's Table 2)",
            markdown_table(rank_table(data)),
            f"![records per split by order]({plot.name})",
        ]
    )
    path = out / "report.md"
    path.write_text(text + "\n")
    print(text)
    print(f"\nreport written to {path}")
    return path
