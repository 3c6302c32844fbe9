"""The main job (`bioscan_hf.demo`, `bioscan-hf demo`): seeded, reproducible, every section present."""

from __future__ import annotations

import re
from pathlib import Path

import datasets

from bioscan_hf.cli import main


def test_seeded_demo_writes_the_same_report_twice(tmp_path: Path) -> None:
    reports = []
    for run in ("a", "b"):
        args = ["demo", "--out", str(tmp_path / run), "--scale", "300", "--seed", "7"]
        assert main([*args, "--pretrain-steps", "10", "--clibd-steps", "3"]) == 0
        report = (tmp_path / run / "report.md").read_text()
        reports.append(re.sub(r"[\d.]+ CPU minutes", "", report.replace(str(tmp_path / run), "OUT")))
    report = reports[0]
    assert "Synthetic data" in report and "| test |" in report and "| species |" in report
    assert "| BarcodeBERT (small, here) |" in report and "| alignment (edlib) |" in report
    assert (tmp_path / "a" / "barcodebert" / "final" / "model.safetensors").exists()
    assert reports[0] == reports[1]  # every table, loss and figure: a seeded run is reproducible
    out = tmp_path / "a"
    assert (out / "orders_per_split.png").stat().st_size > 10_000
    assert "## Images and barcodes in one space: a small CLIBD" in report and "| image → DNA | order |" in report
    assert (out / "clibd" / "final" / "README.md").exists() and (out / "retrieval" / "retrieval.png").exists()
    assert datasets.load_dataset(str(out / "dataset"), "cropped_256", split="test").num_rows > 0
