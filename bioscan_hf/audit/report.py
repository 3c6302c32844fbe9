"""What an audit found, at a glance: counts per category and per order, the grade distribution, and a
figure (`plot_audit`: suspects per order by category, species per order by BAGS grade)."""

from __future__ import annotations

import os

import pandas as pd
from matplotlib.figure import Figure

from bioscan_hf.audit.bins import GRADES
from bioscan_hf.audit.findings import CATEGORIES
from bioscan_hf.core.formatting import markdown_table

#: Grades from good (green) to bad (red); categories in their own colours.
COLOURS = {
    "A": "#1a9850",
    "B": "#91cf60",
    "C": "#fdae61",
    "D": "#bdbdbd",
    "E": "#d73027",
    "-": "#f0f0f0",
    "contamination": "#7b3294",
    "label_conflict": "#d7191c",
    "barcode_qc": "#2c7bb6",
    "bin_discordance": "#fdae61",
}
#: Orders shown in the figure and the printed table (the rest are summed as "other orders").
SHOWN_ORDERS = 12


def _by_order(frame: pd.DataFrame, column: str, values: tuple[str, ...]) -> dict[str, dict[str, int]]:
    counts = frame.groupby(frame["order"].fillna("(no order)"))[column].value_counts().unstack(fill_value=0)
    counts = counts.reindex(columns=list(values), fill_value=0)
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False).index]
    return {str(order): {k: int(v) for k, v in row.items() if v} for order, row in counts.iterrows()}


def summarize(suspects: pd.DataFrame, grades: pd.DataFrame, species_order: dict[str, str], **facts) -> dict:
    """The summary of an audit (`facts`: records, distinct barcodes, notes… passed through)."""
    graded = grades.assign(order=grades["species"].map(species_order))
    return {
        **facts,
        "suspects": len(suspects),
        "by_category": {c: int((suspects["category"] == c).sum()) for c in CATEGORIES},
        "by_order": _by_order(suspects, "category", CATEGORIES) if len(suspects) else {},
        "grades": {g: int((grades["grade"] == g).sum()) for g in GRADES},
        "grades_by_order": _by_order(graded, "grade", GRADES) if len(graded) else {},
    }


def summary_table(summary: dict) -> str:
    """Suspects per order and category, species per grade, as a Markdown table."""
    orders = list(dict.fromkeys([*summary["by_order"], *summary["grades_by_order"]]))[:SHOWN_ORDERS]
    rows = [
        {
            "order": order,
            **{c: summary["by_order"].get(order, {}).get(c, 0) for c in CATEGORIES},
            "species by grade": " ".join(f"{g}:{n}" for g, n in summary["grades_by_order"].get(order, {}).items())
            or "–",
        }
        for order in orders
    ]
    return markdown_table(rows)


def plot_audit(summary: dict, path: str | os.PathLike) -> None:
    """Suspects per order, stacked by category (left), and species per order, stacked by grade (right)."""
    figure = Figure(figsize=(12, 0.45 * SHOWN_ORDERS + 1.5))
    left, right = figure.subplots(1, 2, sharey=True)
    orders = list(dict.fromkeys([*summary["by_order"], *summary["grades_by_order"]]))[:SHOWN_ORDERS][::-1]
    for axis, counts, values, title in (
        (left, summary["by_order"], CATEGORIES, f"suspects per order ({summary['suspects']:,})"),
        (right, summary["grades_by_order"], GRADES, "species per order by BAGS grade"),
    ):
        start, drawn = [0] * len(orders), False
        for value in values:
            widths = [counts.get(o, {}).get(value, 0) for o in orders]
            if any(widths):
                axis.barh(orders, widths, left=start, label=value, color=COLOURS.get(value))
                start, drawn = [s + w for s, w in zip(start, widths)], True
        axis.set(title=title, xlabel="records" if values is CATEGORIES else "species")
        if drawn:
            axis.legend(loc="lower right", fontsize=8)
        else:
            axis.text(0.5, 0.5, "none", ha="center", va="center", transform=axis.transAxes)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
