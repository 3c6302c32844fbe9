"""Protocols are registered: `evaluate` runs what `PROTOCOLS` holds and `tables` lays out the cells each
adds; a new protocol is one module and one registry line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bioscan_hf.cli import main
from bioscan_hf.evaluation import protocols
from bioscan_hf.evaluation.protocols import PROTOCOLS, Context, Protocol


def test_the_registry_holds_the_papers_protocols() -> None:
    assert list(PROTOCOLS) == ["knn", "linear", "cluster", "baselines"]
    for name, protocol in PROTOCOLS.items():
        assert protocol.name == name and protocol.summary and callable(protocol.run)


def test_a_new_protocol_runs_and_reaches_table_4(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Context] = []

    def run(context: Context) -> dict[str, float]:
        seen.append(context)
        return {"count_test": float(context.data["test"].num_rows) / 1000}

    new = Protocol("count", "records in test (a toy)", run, table4=lambda m: {None: {"fine-tuned": m["count_test"]}})
    monkeypatch.setitem(PROTOCOLS, "count", new)
    monkeypatch.setattr(protocols, "PROTOCOLS", PROTOCOLS)
    out = tmp_path / "count"
    assert main(["evaluate", "count", "--dataset", str(prepared), "--model", "kmer3", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == {"count_test": seen[0].data["test"].num_rows / 1000}
    assert seen[0].model == "kmer3" and seen[0].split == "test"
    assert main(["tables", str(out), "--out", str(tmp_path / "tables")]) == 0
    table4 = (tmp_path / "tables" / "table4.md").read_text()
    assert f"| ours | kmer3 | {100 * metrics['count_test']:.2f} |" in table4
