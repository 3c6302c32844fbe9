"""How good the calls are, where the queries' true taxonomy is known. Per rank: the share of queries
called (coverage), the accuracy of the calls made, over-classification (calls made for queries whose
true taxon at that rank is absent from the reference: every such call is wrong), and whether the
confidence means what it says: the expected calibration error over `CONFIDENCE_BINS` (the gap between
confidence and accuracy, weighted by queries) with its reliability table, and a reliability diagram and
coverage–accuracy curve per rank (`plot_reliability`)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from bioscan_hf.core.formatting import markdown_table
from bioscan_hf.data.schema import CALL_RANKS

#: Ten equal-width confidence bins, as reliability diagrams use.
CONFIDENCE_BINS = np.linspace(0.0, 1.0, 11)


def known_labels(reference: pd.DataFrame) -> dict[str, set[str]]:
    """The labels a reference table holds at each rank (what can be called right)."""
    return {rank: set(reference[rank].dropna()) for rank in CALL_RANKS}


def _candidates(results: pd.DataFrame, rank: str) -> pd.Series:
    """Each query's candidate at `rank` (called or not), or its call where the table holds only calls."""
    column = f"_candidate_{rank}"
    return results[column] if column in results else results[rank]


def reliability(results: pd.DataFrame, rank: str) -> pd.DataFrame:
    """Per confidence bin: queries, mean confidence and accuracy of the candidates (true label known; a query
    given no confidence, NaN, is in no bin)."""
    truth, candidate = results[f"true_{rank}"], _candidates(results, rank)
    judged = truth.notna() & candidate.notna()
    return binned(results.loc[judged, f"{rank}_confidence"], (candidate == truth)[judged])


def binned(confidence: pd.Series, right: pd.Series) -> pd.DataFrame:
    """`reliability`'s table of confidences and whether each candidate was right (NaN: in no bin)."""
    frame = pd.DataFrame({"confidence": confidence, "right": right})
    bins = pd.cut(frame["confidence"], CONFIDENCE_BINS, include_lowest=True)
    table = frame.groupby(bins, observed=True).agg(
        queries=("right", "size"), mean_confidence=("confidence", "mean"), accuracy=("right", "mean")
    )
    return table.reset_index(names="bin")


def rank_summary(results: pd.DataFrame, rank: str, labels: set[str] | None = None) -> dict:
    """Coverage, accuracy of calls, over-classification and calibration at `rank` (queries with a true
    label only, when known)."""
    truth_column = f"true_{rank}"
    known = results[results[truth_column].notna()] if truth_column in results else results
    called = known[known[rank].notna()]
    summary: dict = {
        "rank": rank,
        "queries": len(known),
        "called": len(called),
        "coverage": round(len(called) / len(known), 4) if len(known) else None,
    }
    if truth_column not in results:
        return summary
    summary["accuracy_of_calls"] = (
        round(float((called[rank] == called[truth_column]).mean()), 4) if len(called) else None
    )
    if labels is not None:
        absent = known[~known[truth_column].isin(labels)]
        summary["queries_absent_from_reference"] = len(absent)
        summary["over_classification"] = round(float(absent[rank].notna().mean()), 4) if len(absent) else None
    table = reliability(known, rank)
    if len(table):
        summary["expected_calibration_error"] = round(calibration_error(table), 4)
        summary["reliability"] = [
            {
                "confidence": str(row.bin),
                "queries": int(row.queries),
                "mean_confidence": round(float(row.mean_confidence), 4),
                "accuracy": round(float(row.accuracy), 4),
            }
            for row in table.itertuples()
        ]
    return summary


def calibration_error(table: pd.DataFrame) -> float:
    """Expected calibration error of a reliability table: the gap between accuracy and mean confidence, bin
    by bin, weighted by queries."""
    weights = table["queries"] / table["queries"].sum()
    return float((weights * (table["accuracy"] - table["mean_confidence"]).abs()).sum())


def summarize(results: pd.DataFrame, labels: dict[str, set[str]] | None = None) -> list[dict]:
    """`rank_summary` for every rank (`labels`: the reference's, from `known_labels`)."""
    return [rank_summary(results, rank, labels[rank] if labels else None) for rank in CALL_RANKS]


def summary_table(summaries: list[dict]) -> str:
    """The per-rank summary as a Markdown table."""
    rows = []
    for s in summaries:
        row = {
            "rank": s["rank"],
            "queries": s["queries"],
            "called": f"{s['coverage']:.1%}" if s["coverage"] is not None else "–",
        }
        if "accuracy_of_calls" in s:
            row["accuracy of calls"] = _pct(s["accuracy_of_calls"])
            if "over_classification" in s:
                absent = s["queries_absent_from_reference"]
                row["called though absent from the reference"] = (
                    f"{_pct(s['over_classification'])} of {absent:,}" if absent else "none absent"
                )
            row["calibration error"] = _pct(s.get("expected_calibration_error"))
        rows.append(row)
    return markdown_table(rows)


def prepare_plot() -> None:
    """Import what `plot_reliability` draws with (~0.6 s), for a caller with time to spare before it draws:
    identify, while its worker processes search the last chunk."""
    import matplotlib.figure  # noqa: F401


def plot_reliability(results: pd.DataFrame, path: str | os.PathLike) -> None:
    """Per rank (columns): the reliability diagram (accuracy against confidence, the diagonal is perfect
    calibration) and the coverage–accuracy curve (calling the most confident share of queries first)."""
    from matplotlib.figure import Figure  # here: half a second of import that a plate of unknowns never needs

    ranks = [r for r in CALL_RANKS if f"true_{r}" in results and results[f"true_{r}"].notna().any()]
    figure = Figure(figsize=(max(5.5, 3 * len(ranks)), 6))  # (one rank: room for the title)
    axes = figure.subplots(2, len(ranks), squeeze=False)
    for column, rank in enumerate(ranks):
        table = reliability(results, rank)
        top, bottom = axes[0, column], axes[1, column]
        top.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
        top.scatter(
            table["mean_confidence"], table["accuracy"], s=10 + 60 * np.sqrt(table["queries"] / table["queries"].max())
        )
        top.set(
            title=rank, xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence", ylabel="accuracy" if column == 0 else None
        )
        truth, candidate = results[f"true_{rank}"], _candidates(results, rank)
        judged = truth.notna() & results[f"{rank}_confidence"].notna()  # NaN: no confidence given (too short)
        order = np.argsort(-results.loc[judged, f"{rank}_confidence"].to_numpy(), kind="stable")
        right = (candidate == truth)[judged].to_numpy()[order]
        coverage = np.arange(1, len(right) + 1) / len(right)
        bottom.plot(coverage, np.cumsum(right) / np.arange(1, len(right) + 1))
        bottom.set(
            xlim=(0, 1),
            ylim=(max(0.0, right.mean() - 0.1), 1.005),
            xlabel="coverage",
            ylabel="accuracy of calls" if column == 0 else None,
        )
    figure.suptitle("Reliability (top) and coverage–accuracy (bottom) per rank")
    width, height = figure.get_size_inches()  # margins in inches (tight_layout measured every label: ~0.5 s)
    figure.subplots_adjust(
        left=0.65 / width, right=1 - 0.15 / width, bottom=0.55 / height, top=1 - 0.6 / height, wspace=0.3, hspace=0.35
    )
    figure.savefig(path, format="png", dpi=100)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"
