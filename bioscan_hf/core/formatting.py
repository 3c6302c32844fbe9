"""Tables for people: markdown (for reports, cards and READMEs) and CSV (for spreadsheets)."""

from __future__ import annotations

import csv
import os


def markdown_table(rows: list[dict]) -> str:
    """A list of same-keyed dicts as a markdown table (floats as percentages)."""
    if not rows:
        return ""
    keys = list(rows[0])

    def fmt(value) -> str:
        return (
            f"{100 * value:.1f}%"
            if isinstance(value, float)
            else f"{value:,}"
            if isinstance(value, int)
            else str(value)
        )

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def write_csv(rows: list[dict], path: str | os.PathLike) -> None:
    """A list of same-keyed dicts as a CSV file (values as they are: fractions stay fractions)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
