"""The paper's tables from evaluation runs: each RUN_DIR holds `metrics.json` and `run.json` written by
`bioscan-hf evaluate` (or `finetune`'s model folder); `write_tables` lays them out as Table 4, the
Table A15 grid, Fig. 6 / Table A16 and Table 5, in Markdown and CSV, with the published numbers beside.

Published numbers are those of the BIOSCAN-5M paper (Gharaee et al., NeurIPS 2024 Datasets and
Benchmarks track) as recorded in the project specification (SPEC §3); percentages.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from bioscan_hf.core.errors import InputError, MissingFileError
from bioscan_hf.core.formatting import markdown_table, write_csv
from bioscan_hf.core.outputs import make_output_folder
from bioscan_hf.core.paths import user_path
from bioscan_hf.core.specs import ModelSpec
from bioscan_hf.data.prepared import origin_note
from bioscan_hf.evaluation.protocols import PROTOCOLS
from bioscan_hf.evaluation.protocols.baselines import CLUSTERS_ROW
from bioscan_hf.evaluation.protocols.cluster import CLUSTER_RANKS
from bioscan_hf.evaluation.retrieval import retrieval_rows

PAPER = "BIOSCAN-5M paper (Gharaee et al., NeurIPS 2024 Datasets and Benchmarks), as recorded in SPEC §3"

#: Table 4 (%): fine-tuned species accuracy / linear probe species accuracy / 1-NN genus accuracy (unseen).
PUBLISHED_TABLE4 = {
    "BarcodeBERT 8-4-4": (99.28, 94.47, 47.03),
    "BarcodeBERT (original, k=4)": (98.52, 91.93, 23.15),
    "DNABERT-2": (99.23, 67.81, 17.99),
    "DNABERT-S": (98.99, 95.50, 17.70),
    "Nucleotide Transformer": (98.99, 52.41, 21.67),
    "HyenaDNA": (98.71, 54.82, 19.26),
    "CNN": (97.70, None, 29.88),
    "BLAST (alignment)": (99.78, None, 58.74),
}
#: Table 5, species macro harmonic mean (%): (no alignment, aligned CLIBD) per direction.
PUBLISHED_TABLE5_SPECIES_HM = {
    "DNA → DNA": (79.8, 97.0),
    "image → image": (16.6, 67.0),
    "image → DNA": (0.0, 20.0),
}
#: Barcode encoders published after the BIOSCAN-5M paper, with the numbers their papers report and where.
#: Not Table 4 cells: BarcodeMamba reports on CANADA-1.5M (BarcodeBERT's earlier benchmark), not BIOSCAN-5M.
PUBLISHED_LATER_MODELS = [
    {
        "encoder": "BarcodeMamba (best linear probe; dim768-layer6 for 1-NN)",
        "data": "CANADA-1.5M",
        "linear probe (species, seen)": "99.20",
        "1-NN genus (unseen)": "70.20",
        "source": "Gao & Taylor 2024, arXiv 2412.11084 (abstract)",
    },
]
LATER_MODELS_NOTE = (
    "BarcodeMAE (Safari, Millan Arias et al. 2025, arXiv 2502.18405) reports its results on BIOSCAN-5M; "
    "they are not recorded here (only its abstract, which gives no figure, could be read when this table "
    "was written): compare a run of `convert-barcodemae` with the paper's tables."
)
TABLE4_NOTE = (
    "Alignment's 'fine-tuned' cell is its closed-world 1-NN species accuracy (test → train barcodes), as "
    "BLAST's is in the paper. Micro accuracy (share of records); macro in each run's metrics.json."
)
PUBLISHED_CLUSTERING = (
    "Published (Fig. 6): DNA encoders cluster far better than image encoders (species AMI: HyenaDNA "
    "~76–90%, BarcodeBERT ~45%; image encoders 5–21%); image + DNA concatenated (z-scored) scores below "
    "DNA alone."
)


@dataclass
class Run:
    """One evaluation run: where it is, what it scored (run.json) and its metrics."""

    folder: Path
    info: dict
    metrics: dict

    @property
    def label(self) -> str:
        """The run's name in tables: its folder's name (a model folder's `final` takes its parent's)."""
        folder = self.folder.parent if self.folder.name == "final" else self.folder
        return folder.name

    @property
    def model(self) -> str:
        return str(self.info.get("model", self.label))

    @property
    def protocol(self) -> str:
        return self.info.get("protocol") or ("finetune" if "test_accuracy" in self.metrics else "dna")


def read_run(folder: str | os.PathLike) -> Run:
    """A run folder: metrics.json (required) and run.json (what was scored; older runs lack it)."""
    folder = user_path(folder)
    metrics_file = folder / "metrics.json"
    if not metrics_file.is_file():
        raise MissingFileError(
            f"{folder} has no metrics.json: give the --out folder of `bioscan-hf evaluate` (or a finetune's OUT/final)"
        )
    info_file = folder / "run.json"
    info = json.loads(info_file.read_text()) if info_file.is_file() else {}
    return Run(folder, info, json.loads(metrics_file.read_text()))


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def display_name(spec: str) -> str:
    """A model spec as a table shows it (`ModelSpec.display_name`)."""
    return ModelSpec.parse(spec).display_name


def table4(runs: list[Run]) -> list[dict]:
    """One row per encoder scored on test: fine-tuned, linear probe and 1-NN genus accuracy (micro, %)."""
    rows: dict[str, dict] = {}

    def row(spec: str) -> dict:
        empty = {"encoder": display_name(spec), "fine-tuned": "–", "linear probe": "–", "1-NN genus": "–"}
        return rows.setdefault(spec, empty)

    for run in runs:
        if run.info.get("split", "test") != "test" or run.info.get("one_sample_per_barcode"):
            continue
        m = run.metrics
        if run.protocol == "finetune":
            row(run.model)["fine-tuned"] = _pct(m.get("test_accuracy"))
        elif run.protocol == "dna":  # the cells each registered protocol adds (row None: the run's model)
            for protocol in PROTOCOLS.values():
                for spec, cells in (protocol.table4(m) if protocol.table4 else {}).items():
                    row(run.model if spec is None else spec).update({k: _pct(v) for k, v in cells.items()})
    ours = [{"source": "ours", **r} for r in rows.values()]
    published = [
        {
            "source": "published",
            "encoder": name,
            "fine-tuned": f"{ft:.2f}",
            "linear probe": "–" if lin is None else f"{lin:.2f}",
            "1-NN genus": f"{nn:.2f}",
        }
        for name, (ft, lin, nn) in PUBLISHED_TABLE4.items()
    ]
    return ours + published if ours else []


def table_a15(runs: list[Run]) -> list[dict]:
    """The model-selection grid: BarcodeBERT runs scored on val, by k-mer size and layers-heads (%)."""
    rows = []
    for run in runs:
        if run.protocol != "dna" or run.info.get("split") != "val":
            continue
        config = ModelSpec.parse(run.model).config() or {}
        if "k_mer" not in config:
            continue
        rows.append(
            {
                "k": config["k_mer"],
                "layers-heads": f"{config['num_hidden_layers']}-{config['num_attention_heads']}",
                "1-NN genus (val_unseen)": _pct(run.metrics.get("knn_genus_micro")),
                "linear probe species (val)": _pct(run.metrics.get("linear_species_micro")),
                "run": run.label,
            }
        )
    return sorted(rows, key=lambda r: (r["k"], r["layers-heads"]))


def _encoders(run: Run) -> str:
    return " + ".join(display_name(m) for m in [run.model, *run.info.get("concat_models", [])])


def clustering_table(runs: list[Run]) -> list[dict]:
    """Fig. 6 / Table A16: AMI (%) per rank for each clustering run (an encoder or a concatenation), and the
    BIN-like clusters of a baselines run (no encoder: barcodes linked by alignment)."""
    rows, bin_like_shown = [], set()  # the BIN-like clusters of several baselines runs: once per name
    for run in runs:
        if run.protocol != "dna":
            continue
        sample = " (one sample per barcode)" if run.info.get("one_sample_per_barcode") else ""
        if "cluster_ami_species" in run.metrics:
            rows.append(_ami_row(_encoders(run) + sample, run.info.get("modality", "dna"), run.metrics, "cluster_ami"))
        if "baseline_clusters_ami_species" in run.metrics and CLUSTERS_ROW + sample not in bin_like_shown:
            rows.append(_ami_row(CLUSTERS_ROW + sample, "dna", run.metrics, "baseline_clusters_ami"))
            bin_like_shown.add(CLUSTERS_ROW + sample)
    return rows


def _ami_row(name: str, modality: str, metrics: dict, prefix: str) -> dict:
    """A clustering table row: AMI (%) per rank from `metrics`' `{prefix}_<rank>`."""
    return {
        "encoders": name,
        "modality": modality,
        **{rank: _pct(metrics.get(f"{prefix}_{rank}")) for rank in CLUSTER_RANKS},
    }


def concatenation_grid(runs: list[Run], rank: str = "species") -> list[dict]:
    """Table A16's grid: rows = the first encoder (e.g. an image model), columns = what was concatenated
    to it ("alone" for none); cells = AMI (%) at `rank`."""
    cells: dict[str, dict[str, str]] = {}
    for run in runs:
        if run.protocol != "dna" or f"cluster_ami_{rank}" not in run.metrics:
            continue
        partner = " + ".join(display_name(m) for m in run.info.get("concat_models", [])) or "alone"
        cells.setdefault(display_name(run.model), {})[partner] = _pct(run.metrics[f"cluster_ami_{rank}"])
    if not any(partner != "alone" for row in cells.values() for partner in row):
        return []
    partners = sorted({p for row in cells.values() for p in row}, key=lambda p: (p != "alone", p))
    return [{"encoder": model, **{p: row.get(p, "–") for p in partners}} for model, row in cells.items()]


def table5(runs: list[Run], average: str = "macro") -> list[dict]:
    """Table 5: top-1 accuracy (%) per rank, seen / unseen / H.M., per CLIBD run and direction."""
    rows = []
    for run in runs:
        if run.protocol != "retrieval":
            continue
        for row in retrieval_rows(run.metrics, average):
            values = {k: (_pct(v) if isinstance(v, float) else v) for k, v in row.items()}
            rows.append({"run": run.label, **values})
    return rows


def table5_published() -> list[dict]:
    return [
        {"query → key": direction, "no alignment": f"{before:.1f}", "CLIBD": f"~{after:.0f}"}
        for direction, (before, after) in PUBLISHED_TABLE5_SPECIES_HM.items()
    ]


def plot_ami_by_rank(runs: list[Run], path: Path) -> bool:
    """AMI by rank, one line per clustering run; False when there is none."""
    clustered = [r for r in runs if r.protocol == "dna" and "cluster_ami_species" in r.metrics]
    if not clustered:
        return False
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for run in clustered:
        values = [run.metrics.get(f"cluster_ami_{rank}", float("nan")) for rank in CLUSTER_RANKS]
        ax.plot(CLUSTER_RANKS, values, marker="o", label=_encoders(run)[-60:])
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1)
    ax.set_ylabel("AMI")
    ax.set_title("Zero-shot clustering: AMI by rank per encoder")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def write_tables(run_dirs: list[str | os.PathLike], out: str | os.PathLike, average: str = "macro") -> Path:
    """Read the runs and write every table they fill (Markdown and CSV) plus `tables.md` and the AMI plot
    into `out`; returns the path of `tables.md`."""
    runs = [read_run(folder) for folder in run_dirs]
    if not runs:
        raise InputError("no run folders given")
    out = make_output_folder(out)
    origins = sorted({r.info.get("data_origin", "unrecorded") for r in runs})
    sections = [
        "# Evaluation tables\n",
        f"Runs: {', '.join(r.label for r in runs)}. Ours are percentages of the runs' own metrics.json; "
        f"published numbers: {PAPER}.\n",
        *(f"- Data: {origin_note(origin)}." for origin in origins),
        "",
    ]
    tables = {
        "table4": (
            "Table 4: species accuracy (fine-tuned, linear probe; test) and 1-NN genus (test_unseen)",
            table4(runs),
        ),
        "table_a15": ("Table A15: model selection grid (val / val_unseen)", table_a15(runs)),
        "clustering": ("Fig. 6 / Table A16: zero-shot clustering AMI per rank", clustering_table(runs)),
        "table_a16_grid": ("Table A16: concatenated encoders, species AMI", concatenation_grid(runs)),
        "table5": (f"Table 5: retrieval top-1 {average} accuracy", table5(runs, average)),
    }
    for name, (title, rows) in tables.items():
        if not rows:
            continue
        write_csv(rows, out / f"{name}.csv")
        (out / f"{name}.md").write_text(f"## {title}\n\n{markdown_table(rows)}\n")
        sections += [f"## {title}\n", markdown_table(rows), ""]
        if name == "table4":
            sections += [TABLE4_NOTE, "", "Published by later barcode models (other data or protocols):\n"]
            sections += [markdown_table(PUBLISHED_LATER_MODELS), "", LATER_MODELS_NOTE, ""]
        if name == "clustering":
            sections += [PUBLISHED_CLUSTERING, ""]
        if name == "table5":
            sections += ["Published species macro H.M. (%):\n", markdown_table(table5_published()), ""]
    if plot_ami_by_rank(runs, out / "ami_by_rank.png"):
        sections += ["![AMI by rank per encoder](ami_by_rank.png)", ""]
    if not any(rows for _, rows in tables.values()):
        raise InputError("none of the runs holds metrics of a table (knn, linear, cluster, retrieval or finetune)")
    path = out / "tables.md"
    path.write_text("\n".join(sections))
    return path
