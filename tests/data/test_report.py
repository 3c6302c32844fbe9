"""Dataset statistics (`bioscan_hf.data.report`): the paper's Tables 2–3 and the records-per-order plot."""

from __future__ import annotations

from pathlib import Path

from bioscan_hf.data.prepared import load_prepared
from bioscan_hf.data.report import plot_orders_per_split, rank_table, split_table


def test_tables_count_what_the_splits_hold(prepared: Path, tmp_path: Path) -> None:
    data = load_prepared(prepared)
    rows = {row["split"]: row for row in split_table(data)}
    assert sum(row["samples"] for row in rows.values()) == sum(part.num_rows for part in data.values())
    for name, row in rows.items():
        assert row["barcodes"] == len(set(data[name]["dna_barcode"]))
    ranks = {row["rank"]: row for row in rank_table(data)}
    labelled = sum(sum(1 for v in part["species"] if v >= 0) for part in data.values())
    assert ranks["species"]["labelled"] == labelled / sum(part.num_rows for part in data.values())
    path = plot_orders_per_split(data, tmp_path / "orders.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
