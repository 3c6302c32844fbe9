"""Evaluation commands: `evaluate` (the paper's protocols, any encoder) and `tables` (the paper's layouts)."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.commands.common import DATASET_HELP, Command
from bioscan_hf.core.options import LiveChoices, option
from bioscan_hf.core.specs import SPEC_HELP
from bioscan_hf.embedding.settings import EMBEDDINGS_HELP, EncoderSettings
from bioscan_hf.evaluation.encoders import TASKS, evaluate_dna
from bioscan_hf.evaluation.protocols import PROTOCOLS
from bioscan_hf.evaluation.retrieval import default_baseline, evaluate_retrieval
from bioscan_hf.evaluation.tables import write_tables


@dataclass(frozen=True, kw_only=True)
class EvaluateOptions(EncoderSettings):
    task: str = option(
        "which protocol (see above); `all`: every one but retrieval",
        positional=True,
        choices=LiveChoices(lambda: (*PROTOCOLS, "all", "retrieval")),  # a protocol registered later counts
    )
    dataset: str = option(DATASET_HELP)
    model: str = option(f"{SPEC_HELP}, or align (knn only); retrieval: a CLIBD folder", "kmer6")
    concat_model: list[str] = option(
        "cluster on MODEL's embeddings z-scored and concatenated with this model's (repeatable; e.g. an image "
        "model with a DNA model, Table A16)",
        [],
        append=True,
    )
    out: str = option("folder for metrics.json, the tables and the plots")
    seed: int = option("random seed (UMAP, probes)", 0)
    config: str = option(
        "the image config for retrieval and for clustering images (default cropped_256)", "cropped_256"
    )
    split: str = option(
        "knn/linear/baselines: score on test / test_unseen, or on val / val_unseen for model selection",
        "test",
        choices=("test", "val"),
    )
    probe: str = option(
        "linear probe solver: lbfgs (converged logistic regression, fits the paper's scale in memory) or sgd (the "
        "paper's recipe: SGD lr 0.01, momentum 0.9, weight decay 1e-5)",
        "lbfgs",
        choices=("lbfgs", "sgd"),
    )
    one_sample_per_barcode: bool = option(
        "keep one record per distinct barcode in every split (the paper's Fig. A11 protocol)", False
    )
    modality: str | None = option(
        "cluster: what MODEL embeds (default: barcodes when it has a DNA tower, else images)",
        None,
        choices=("dna", "image"),
    )
    queries: str = option("retrieval: test or val queries", "test", choices=("test", "val"))
    baseline: str | None = option(
        "retrieval: the no-alignment CLIBD folder (default: MODEL/../initial when it exists)", None
    )
    no_baseline: bool = option("retrieval: score MODEL only", False)
    embeddings: str | None = option(EMBEDDINGS_HELP, None)


def run_evaluate(o: EvaluateOptions) -> None:
    if o.task == "retrieval":
        run_retrieval(o)
        return
    metrics = evaluate_dna(
        o.dataset,
        o.model,
        o.out,
        tasks={"all": TASKS, "baselines": ()}.get(o.task, (o.task,)),
        seed=o.seed,
        baselines=o.task in ("baselines", "all"),
        cluster_also=o.concat_model,
        encoder_options=o.encoder_options(),
        image_config=o.config,
        modality=o.modality,
        split=o.split,
        one_sample_per_barcode=o.one_sample_per_barcode,
        probe=o.probe,
        embeddings=o.embeddings,
    )
    for name, value in metrics.items():
        print(f"{name:45s} {value:.4f}" if isinstance(value, float) else f"{name:45s} {value}")
    print(f"written to {o.out}/metrics.json")


def run_retrieval(o: EvaluateOptions) -> None:
    baseline = None if o.no_baseline else o.baseline or default_baseline(o.model)
    metrics = evaluate_retrieval(
        o.dataset, o.model, o.out, baseline, config=o.config, queries=o.queries, embeddings=o.embeddings
    )
    for name, value in metrics.items():
        if "_top1_" in name and name.endswith("_hm"):
            print(f"{name:50s} {value:.4f}")
    print(f"written to {o.out}/metrics.json, retrieval.md and retrieval.png")


@dataclass(kw_only=True)
class TablesOptions:
    runs: list[str] = option("evaluation output folders (metrics.json inside)", positional="+", metavar="RUN_DIR")
    out: str = option("folder for the tables")
    average: str = option("Table 5's averaging", "macro", choices=("macro", "micro"))


def run_tables(o: TablesOptions) -> None:
    path = write_tables(o.runs, o.out, average=o.average)
    print(path.read_text())
    print(f"written to {path} (and one .md + .csv per table beside it)")


COMMANDS: dict[str, Command] = {
    "evaluate": Command(
        EvaluateOptions,
        run_evaluate,
        "Score any encoder (a BarcodeBERT folder, hf:PATH_OR_ID, kmer6 …) or alignment (align) on a prepared "
        "dataset: knn (1-NN genus etc.: keys train, queries test_unseen), linear (linear probe, species, train → "
        "test), cluster (UMAP 50 → Ward → AMI per rank on test + test_unseen), baselines (1-NN genus of kmer6 and "
        "alignment; closed-world alignment species, test → train), all. Or score a CLIBD folder: retrieval (keys "
        "train + key_unseen, queries test / test_unseen; top-1/3/5 micro and macro at order..species for DNA→DNA, "
        "image→image, image→DNA and image+DNA; seen, unseen, harmonic mean; beside the no-alignment baseline). "
        "Writes OUT/metrics.json, a markdown report and plots.",
    ),
    "tables": Command(
        TablesOptions,
        run_tables,
        "Read the metrics.json and run.json of evaluation runs (the --out folders of `bioscan-hf evaluate`, a "
        "finetune's OUT/final) and write the paper's layouts into OUT: Table 4 (fine-tuned / linear probe / 1-NN "
        "genus per encoder), the Table A15 grid (runs scored with --split val, by k and layers-heads), Fig. 6 / "
        "Table A16 (AMI per rank per encoder, the image × DNA concatenation grid, ami_by_rank.png) and Table 5 "
        "(CLIBD retrieval runs side by side), each as .md and .csv, plus OUT/tables.md with all of them.",
    ),
}
