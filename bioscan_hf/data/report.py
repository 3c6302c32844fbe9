"""Dataset statistics as in the paper's Tables 2–3: records per split and labelled categories per rank."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import datasets
from matplotlib.figure import Figure

from bioscan_hf.data.schema import LABEL_COLUMNS, SPLITS


def split_table(data: datasets.DatasetDict) -> list[dict]:
    """Per split: samples, distinct barcodes, distinct species (Table 3's columns)."""
    rows = []
    for split in SPLITS:
        if split not in data:
            continue
        part = data[split].select_columns(["dna_barcode", "species"])
        barcodes = set(part["dna_barcode"])
        species = {s for s in part["species"] if s >= 0}
        rows.append({"split": split, "samples": part.num_rows, "barcodes": len(barcodes), "species": len(species)})
    return rows


def rank_table(data: datasets.DatasetDict) -> list[dict]:
    """Per rank (and BIN): categories present and the share of records labelled (Table 2's columns)."""
    total = sum(d.num_rows for d in data.values())
    rows = []
    for rank in LABEL_COLUMNS:
        labelled, categories = 0, set()
        for part in data.values():
            values = part[rank]
            present = [v for v in values if v >= 0]
            labelled += len(present)
            categories.update(present)
        rows.append({"rank": rank, "categories": len(categories), "labelled": labelled / total if total else 0.0})
    return rows


def plot_orders_per_split(data: datasets.DatasetDict, path: str | Path) -> Path:
    """A stacked bar chart of records per split coloured by insect order; saved as PNG."""
    order_names = next(iter(data.values())).features["order"].names
    splits = [s for s in SPLITS if s in data]
    counts = {s: Counter(data[s]["order"]) for s in splits}
    top = [o for o, _ in sum(counts.values(), Counter()).most_common(8)]
    totals = [sum(counts[s].values()) for s in splits]
    fig = Figure(figsize=(9, 4.5))
    ax = fig.subplots()
    bottom = [0.0] * len(splits)
    for order in top:
        shares = [counts[s][order] / t if t else 0.0 for s, t in zip(splits, totals)]
        label = order_names[order] if order >= 0 else "(no order)"
        ax.bar(splits, shares, bottom=bottom, label=label)
        bottom = [b + h for b, h in zip(bottom, shares)]
    for x, total in enumerate(totals):
        ax.text(x, 1.01, f"{total:,}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("share of the split's records (total above)")
    ax.set_title("Records per split, by order")
    ax.legend(fontsize=8, ncol=4, loc="lower center", bbox_to_anchor=(0.5, -0.45))
    ax.tick_params(axis="x", labelrotation=30)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path
