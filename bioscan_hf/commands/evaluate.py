"""Evaluation commands: `evaluate` (the paper's protocols, any encoder) and `tables` (the paper's layouts)."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.commands.common import DATASET_HELP, Command
from bioscan_hf.core.options import LiveChoices, option
from bioscan_hf.core.specs import SPEC_HELP
from bioscan_hf.evaluation.settings import EvaluateSettings


def _protocols() -> tuple[str, ...]:
    from bioscan_hf.evaluation.protocols import PROTOCOLS

    return (*PROTOCOLS, "all", "retrieval")


@dataclass(frozen=True, kw_only=True)
class EvaluateInputs:
    task: str = option(
        "which protocol (see above); `all`: every one but retrieval",
        positional=True,
        choices=LiveChoices(_protocols),  # a protocol registered later counts
    )
    dataset: str = option(DATASET_HELP)
    model: str = option(f"{SPEC_HELP}, or align (knn only); retrieval: a CLIBD folder", "kmer6")
    out: str = option("folder for metrics.json, the tables and the plots")
    baseline: str | None = option(
        "retrieval: the no-alignment CLIBD folder (default: MODEL/../initial when it exists)", None
    )
    no_baseline: bool = option("retrieval: score MODEL only", False)


def run_evaluate(inputs: EvaluateInputs, settings: EvaluateSettings) -> None:
    from bioscan_hf.evaluation.encoders import TASKS, evaluate_dna

    if inputs.task == "retrieval":
        run_retrieval(inputs, settings)
        return
    tasks = {"all": TASKS, "baselines": ()}.get(inputs.task, (inputs.task,))
    baselines = inputs.task in ("baselines", "all")
    metrics = evaluate_dna(inputs.dataset, inputs.model, inputs.out, settings, tasks=tasks, baselines=baselines)
    for name, value in metrics.items():
        print(f"{name:45s} {value:.4f}" if isinstance(value, float) else f"{name:45s} {value}")
    print(f"written to {inputs.out}/metrics.json")


def run_retrieval(inputs: EvaluateInputs, settings: EvaluateSettings) -> None:
    from bioscan_hf.evaluation.retrieval import default_baseline, evaluate_retrieval

    baseline = None if inputs.no_baseline else inputs.baseline or default_baseline(inputs.model)
    metrics = evaluate_retrieval(inputs.dataset, inputs.model, inputs.out, baseline, settings)
    for name, value in metrics.items():
        if "_top1_" in name and name.endswith("_hm"):
            print(f"{name:50s} {value:.4f}")
    print(f"written to {inputs.out}/metrics.json, retrieval.md and retrieval.png")


@dataclass(kw_only=True)
class TablesOptions:
    runs: list[str] = option("evaluation output folders (metrics.json inside)", positional="+", metavar="RUN_DIR")
    out: str = option("folder for the tables")
    average: str = option("Table 5's averaging", "macro", choices=("macro", "micro"))


def run_tables(o: TablesOptions) -> None:
    from bioscan_hf.evaluation.tables import write_tables

    path = write_tables(o.runs, o.out, average=o.average)
    print(path.read_text())
    print(f"written to {path} (and one .md + .csv per table beside it)")


COMMANDS: dict[str, Command] = {
    "evaluate": Command(
        (EvaluateInputs, EvaluateSettings),
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
