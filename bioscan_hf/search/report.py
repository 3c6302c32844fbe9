"""How good the calls are, where the queries' true taxonomy is known: per rank, the share of queries
called (coverage), the accuracy of the calls made, and a reliability table (accuracy per confidence bin),
the check that a confidence of 0.9 means right 9 times in 10."""

from __future__ import annotations

import pandas as pd

from bioscan_hf.core.formatting import markdown_table
from bioscan_hf.data.sources import CALL_RANKS

CONFIDENCE_BINS: tuple[float, ...] = (0.0, 0.5, 0.7, 0.9, 1.0)
CONFIDENT = 0.9


def rank_summary(results: pd.DataFrame, rank: str) -> dict:
    """Coverage, accuracy of calls and reliability at `rank` (queries with a true label only, when known)."""
    truth_column = f"true_{rank}"
    known = results[results[truth_column].notna()] if truth_column in results else results
    called = known[known[rank].notna()]
    summary: dict = {
        "rank": rank,
        "queries": len(known),
        "called": len(called),
        "coverage": round(len(called) / len(known), 4) if len(known) else None,
        "confident_calls": int((called[f"{rank}_confidence"] >= CONFIDENT).sum()),
    }
    if truth_column not in results:
        return summary
    right = called[rank] == called[truth_column]
    confident = called[f"{rank}_confidence"] >= CONFIDENT
    summary["accuracy_of_calls"] = round(float(right.mean()), 4) if len(called) else None
    summary["accuracy_when_confident"] = round(float(right[confident].mean()), 4) if confident.any() else None
    bins = pd.cut(called[f"{rank}_confidence"], CONFIDENCE_BINS, include_lowest=True, right=False)
    summary["reliability"] = [
        {"confidence": str(interval), "calls": int(len(group)), "accuracy": round(float(group.mean()), 4)}
        for interval, group in right.groupby(bins, observed=True)
    ]
    return summary


def summarize(results: pd.DataFrame) -> list[dict]:
    """`rank_summary` for every rank."""
    return [rank_summary(results, rank) for rank in CALL_RANKS]


def summary_table(summaries: list[dict]) -> str:
    """The per-rank summary as a Markdown table."""
    rows = []
    for s in summaries:
        row = {
            "rank": s["rank"],
            "queries": s["queries"],
            "called": f"{s['coverage']:.1%}" if s["coverage"] is not None else "–",
            "confident (≥0.9)": s["confident_calls"],
        }
        if "accuracy_of_calls" in s:
            row["accuracy of calls"] = _pct(s["accuracy_of_calls"])
            row["accuracy when ≥0.9"] = _pct(s["accuracy_when_confident"])
        rows.append(row)
    return markdown_table(rows)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"
