"""The main job: get a release (embedded sample, a user's release, or BOLD exports), publish it as a
Hub-ready dataset, open it with `load_dataset`, and report what is in it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import datasets

from bioscan_hf.core.console import short_library_bars_hidden
from bioscan_hf.core.formatting import markdown_table
from bioscan_hf.core.paths import existing_path, runnable, space_app
from bioscan_hf.data.bold import import_bold
from bioscan_hf.data.publish import prepare
from bioscan_hf.data.report import plot_orders_per_split, rank_table, split_table
from bioscan_hf.data.sample import write_sample_release
from bioscan_hf.evaluation.encoders import evaluate_dna
from bioscan_hf.evaluation.retrieval import evaluate_retrieval
from bioscan_hf.evaluation.tables import write_tables
from bioscan_hf.hub.cards import write_clibd_card
from bioscan_hf.models.barcodebert import BarcodeBertConfig
from bioscan_hf.search import build_index, identify
from bioscan_hf.training.barcodebert import PRETRAIN_SPLITS, pretrain_barcodebert
from bioscan_hf.training.clibd import train_clibd
from bioscan_hf.training.trainer import TrainingRun

#: The demo's training steps (BarcodeBERT pre-training, CLIBD alignment): the default run (≤ 5 minutes on
#: 2 CPU cores, BENCHMARKS.md) and `--full`.
DEMO_STEPS: dict[str, tuple[int, int]] = {"quick": (300, 60), "full": (1000, 300)}

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
    pretrain_steps: int = DEMO_STEPS["quick"][0],
    clibd_steps: int = DEMO_STEPS["quick"][1],
) -> Path:
    """Run the pipeline end to end and write `out/report.md`; returns the report's path.

    `pretrain_steps=0` stops after the dataset report; otherwise a small BarcodeBERT is pre-trained on
    the prepared dataset and its embeddings are checked with a 1-NN probe. Where the dataset has
    images (the embedded sample), a small CLIBD then aligns images with barcodes for `clibd_steps`
    steps and is scored by retrieval beside its no-alignment baseline (`clibd_steps=0` skips it).
    """
    for path in bold:
        existing_path(path, "BOLD export")
    if release is not None:
        existing_path(release, "release folder")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    notes = []
    steps = 4 + 2 * bool(pretrain_steps) + bool(pretrain_steps and clibd_steps and not bold)
    if release is not None:
        source, configs = Path(release), None
        print(f"[1/{steps}] using the release in {source}")
        notes.append(f"Release folder: `{source}`.")
    elif bold:
        source, configs = out / "release-bold", ["metadata"]  # not the sample's folder: neither replaces the other
        print(f"[1/{steps}] importing {len(bold)} BOLD export(s) into {source}")
        report = import_bold(bold, source, unlabelled_fraction=0.3, seed=seed)
        print(report.summary())
        notes.append(REAL_BOLD_NOTE)
    else:
        source, configs = out / "release", ["metadata", "cropped_256"]
        print(f"[1/{steps}] generating the embedded sample ({scale}) in {source}")
        write_sample_release(source, scale=scale, seed=seed)
        notes.append(SYNTHETIC_NOTE)
    print(f"[2/{steps}] preparing a Hub-ready dataset in {out / 'dataset'}")
    summary = prepare(source, out / "dataset", configs=configs, num_proc=num_proc)
    for name, why in summary["skipped"].items():
        print(f"  skipped config {name}: {why}")
    print(f"[3/{steps}] opening it with datasets.load_dataset and writing the report")
    with short_library_bars_hidden():
        data = datasets.load_dataset(str(out / "dataset"), "metadata")
    plot = plot_orders_per_split(data, out / "orders_per_split.png")
    sections = [
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
    if pretrain_steps:
        print(
            f"[4/{steps}] pre-training a small BarcodeBERT ({pretrain_steps} steps) and scoring it beside k-mer and "
            "alignment references"
        )
        sections += barcodebert_section(out, data, pretrain_steps, seed)
        if clibd_steps and "cropped_256" in summary["built"] + summary["reused"]:
            print(
                f"[5/{steps}] aligning images with barcodes: a small CLIBD ({clibd_steps} steps), scored by retrieval"
            )
            sections += clibd_section(out, clibd_steps, seed, dna_model=out / "barcodebert" / "final")
    runs = [out / "evaluation" / name for name in ("barcodebert", "kmer6") if (out / "evaluation" / name).is_dir()]
    runs += [out / "retrieval"] if (out / "retrieval" / "run.json").is_file() else []
    if runs:
        print(f"[{steps - 1}/{steps}] laying the runs out as the paper's tables in {out / 'tables'}")
        tables = write_tables(runs, out / "tables")
        sections += [
            "## The paper's tables from these runs",
            f"`bioscan-hf tables` over the evaluation folders ({', '.join(str(r) for r in runs)}) wrote "
            f"`{tables}` (and a .csv per table beside it): Table 4, Fig. 6 / Table A16"
            + (" and Table 5" if (out / "retrieval" / "run.json").is_file() else "")
            + ", with the published numbers beside ours.",
            tables.read_text()
            .split("\n", 1)[1]
            .replace("\n## ", "\n### ")
            .replace("](ami_by_rank.png)", f"]({tables.parent.name}/ami_by_rank.png)"),
        ]
    print(f"[{steps}/{steps}] identifying the test barcodes against the keys (train + key_unseen)")
    sections += identify_section(out, notes[-1] if notes else "")
    text = "\n\n".join(sections)
    path = out / "report.md"
    path.write_text(text + "\n")
    print("\n\n".join(headline(notes, sections)))
    print(f"\nthe whole report, with its tables and pictures: {path}")
    model, by = (out / "barcodebert" / "final" if pretrain_steps else "kmer6"), "barcode"
    if (out / "clibd" / "final" / "config.json").is_file():
        model, by = out / "clibd" / "final", "photo or barcode"  # one space for both: photo queries too
    print(f"To identify specimens (by {by}) in the retrieval Space on these keys:")
    print(f"  {runnable('bioscan-hf')} index --dataset {out / 'dataset'} --model {model} --out {out / 'index'}")
    app = space_app()
    if app is not None:
        print(f"  {runnable('python')} {app / 'app.py'} --index {out / 'index'}")
    else:
        print(f"  python …/spaces/bioscan-retrieval/app.py --index {out / 'index'}   (from a bioscan-hf checkout)")
    return path


def headline(notes: list[str], sections: list[str]) -> list[str]:
    """What the demo prints of its report: where the data came from, the DNA comparison and the
    identification summary (the report file holds every section)."""
    return [*notes[-1:], *(s for s in sections if s.startswith("| model |") or s.startswith("identified "))]


def identify_section(out: Path, origin: str) -> list[str]:
    """`bioscan-hf identify` on the test split against the keys, with its per-rank summary."""
    result = identify(out / "dataset", out / "dataset", out / "identify" / "test.tsv", top_k=5)
    command = (
        f"{runnable('bioscan-hf')} identify {out / 'dataset'} --split test --reference {out / 'dataset'} "
        f"--out {out / 'identify' / 'test.tsv'} --top-k 5"
    )
    return [
        "## Identifying the test barcodes",
        f"`{command}`: each test barcode against the keys, called per rank where the probability that the call "
        "is right reaches 0.9 (`--min-confidence`). The sample's keys are too few to calibrate themselves at "
        "most ranks, so those ranks use the calibration fitted on the real BOLD file (synthetic data scored "
        "with a real-data calibration: read the calibration error below with that in mind). " + origin,
        result.report().replace(f" → {result.out}", f" → `{result.out}`"),
    ]


#: The demo's BarcodeBERT: small enough to pre-train in a couple of CPU minutes.
DEMO_BARCODEBERT = BarcodeBertConfig.from_preset("small")


def barcodebert_section(out: Path, data: datasets.DatasetDict, steps: int, seed: int) -> list[str]:
    """Pre-train the demo BarcodeBERT on `out/dataset`, then score it beside the k-mer and alignment
    references with the paper's protocols (1-NN genus, linear probe, clustering AMI at species)."""
    started = time.perf_counter()
    run = pretrain_barcodebert(
        out / "dataset",
        out / "barcodebert",
        config=DEMO_BARCODEBERT,
        seed=seed,
        max_steps=steps,
        per_device_train_batch_size=32,
        learning_rate=1e-3,
        logging_steps=max(1, steps // 10),
        save_steps=max(1, steps // 2),
    )
    minutes = (time.perf_counter() - started) / 60
    losses = [entry["loss"] for entry in run.log_history if "loss" in entry]
    # each model scored by `evaluate`, into its own run folder (read by the tables at the end)
    bert = evaluate_dna(out / "dataset", run.model_dir, out / "evaluation" / "barcodebert", seed=seed, baselines=True)
    kmer = evaluate_dna(out / "dataset", "kmer6", out / "evaluation" / "kmer6", seed=seed)
    align = {k.removeprefix("baseline_align_"): v for k, v in bert.items() if k.startswith("baseline_align_knn")}
    rows = [
        {
            "model": name,
            "1-NN genus micro": metrics["knn_genus_micro"],
            "1-NN genus macro": metrics["knn_genus_macro"],
            "linear probe species": metrics.get("linear_species_micro", "–"),
            "clustering AMI species": metrics.get("cluster_ami_species", "–"),
        }
        for name, metrics in (
            ("BarcodeBERT (small, here)", bert),
            ("k-mer profile (k=6)", kmer),
            ("alignment (edlib)", align),
        )
    ]
    (out / "dna_comparison.json").write_text(json.dumps(rows, indent=2))
    shape = DEMO_BARCODEBERT
    return [
        "## DNA embeddings: a small BarcodeBERT against model-free references",
        f"BarcodeBERT: {shape.num_hidden_layers} layers, {shape.num_attention_heads} heads, "
        f"hidden {shape.hidden_size}, k={shape.k_mer}; {steps} steps of masked k-mer modelling (batch 32) on the "
        f"unique {' + '.join(s for s in PRETRAIN_SPLITS if s in data)} barcodes, {minutes:.1f} CPU minutes here; "
        f"MLM loss {losses[0]:.2f} → "
        f"{losses[-1]:.2f}. Model: `{run.model_dir}`.",
        "1-NN: keys train, queries test_unseen, nearest key by cosine (alignment: highest identity among the "
        "top 100 k-mer candidates). Linear probe: species, train → test. Clustering: test + test_unseen, "
        "UMAP 50 → Ward → AMI.",
        markdown_table(rows),
        "A model pre-trained for minutes on one CPU is far from the paper's 8-4-4 (50 GPU-hours); where it "
        "loses to the k-mer profile or to alignment, that is the expected order: both references read the "
        "barcode's bases directly, while the small model's embedding is still coarse.",
    ]


def train_demo_clibd(dataset: Path, out: Path, steps: int, seed: int = 0, dna_model: Path | None = None) -> TrainingRun:
    """The demo's CLIBD (preset `small`, full fine-tuning), `steps` steps on the paired images and barcodes
    of a prepared dataset; the DNA tower starts from `dna_model` when given."""
    return train_clibd(
        dataset,
        out,
        preset="small",
        dna_model=dna_model,
        finetune="full",  # the small image tower starts from random weights: LoRA alone cannot teach it
        seed=seed,
        max_steps=steps,
        per_device_train_batch_size=64,
        learning_rate=1e-3,
        logging_steps=max(1, steps // 5),
        save_steps=steps,
    )


def demo_index(folder: Path, clibd_steps: int = 100, scale: str | int = "small", seed: int = 0) -> Path:
    """The demo's pipeline up to a retrieval index, for the Space started without one: the embedded
    synthetic sample, prepared, a demo CLIBD trained on it (`train_demo_clibd`), its DNA and image keys
    indexed into `folder` (the work files go beside it)."""
    work = Path(folder).parent
    write_sample_release(work / "release", scale=scale, seed=seed)
    prepare(work / "release", work / "dataset", configs=["metadata", "cropped_256"])
    run = train_demo_clibd(work / "dataset", work / "clibd", clibd_steps, seed)
    return build_index(work / "dataset", str(run.model_dir), folder)


def clibd_section(out: Path, steps: int, seed: int, dna_model: Path) -> list[str]:
    """Train the small CLIBD (DNA tower = the demo's BarcodeBERT) on the sample's paired images and
    barcodes, score it and its towers before alignment by retrieval, and write its model card."""
    started = time.perf_counter()
    run = train_demo_clibd(out / "dataset", out / "clibd", steps, seed, dna_model=dna_model)
    minutes = (time.perf_counter() - started) / 60
    losses = [entry["loss"] for entry in run.log_history if "loss" in entry]
    metrics = evaluate_retrieval(out / "dataset", run.model_dir, out / "retrieval", out / "clibd" / "initial")
    write_clibd_card(run.model_dir, "bioscan-hf/clibd-demo", SYNTHETIC_NOTE, out / "retrieval")
    rows = [
        {
            "query → key": title,
            "rank": rank,
            "no alignment": metrics[f"baseline_{direction}_{rank}_top1_macro_hm"],
            "CLIBD": metrics[f"{direction}_{rank}_top1_macro_hm"],
        }
        for direction, title in (("image_to_dna", "image → DNA"), ("image_to_image", "image → image"))
        for rank in ("order", "family", "genus", "species")
    ]
    (out / "retrieval_comparison.json").write_text(json.dumps(rows, indent=2))
    return [
        "## Images and barcodes in one space: a small CLIBD",
        SYNTHETIC_NOTE,
        f"CLIBD (preset `small`: ViT 4 blocks at 64 px, the BarcodeBERT above as DNA tower, a 2-layer text BERT), "
        f"{steps} steps of contrastive training (batch 64, full fine-tuning) on the paired images, barcodes and "
        f"taxonomy of pretrain + train, {minutes:.1f} CPU minutes here; loss {losses[0]:.2f} → {losses[-1]:.2f}. "
        f"Model: `{run.model_dir}` (card: README.md there).",
        "Retrieval (keys train + key_unseen, queries test and test_unseen, nearest key by cosine): top-1 macro "
        "accuracy, harmonic mean of seen and unseen. 'No alignment' = the same towers before training.",
        markdown_table(rows),
        f"The full Table-5 layout (DNA→DNA, image→image, image→DNA, image+DNA; micro and macro; top-1/3/5 in "
        f"metrics.json) is in `{out / 'retrieval' / 'retrieval.md'}`.",
        "![retrieval before and after alignment](retrieval/retrieval.png)",
        "Before alignment an image and a barcode live in unrelated spaces, so image → DNA is at chance; "
        "alignment makes a photo retrieve barcodes of its own order and family. Image → image can fall at the "
        "finer ranks: the untrained image tower's features keep the exact colours the generator draws per "
        "genus, and a short alignment run trades them for the shared space. The real photos in "
        "../shared/data are not paired with barcodes, so alignment can only be shown on generated data.",
    ]
