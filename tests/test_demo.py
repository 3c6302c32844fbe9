"""The main job (`bioscan_hf.demo`, `bioscan-hf demo`): seeded, reproducible, every section present."""

from __future__ import annotations

import re
from pathlib import Path

import datasets

from bioscan_hf.cli import main

#: Lines the short demo below prints (stdout, and stderr less its progress bars): 7 steps, a status line per
#: config and per protocol, the headline tables (identify's with its plate's shares of known orders and of
#: known species, a line each), the report's path and the Space's commands.
DEMO_LINES = 43
#: A progress bar's line (tqdm's elapsed time): a bar is shown for a step only where it takes long enough on
#: the machine, so how many there are (and the blank lines they leave) depends on its speed and load.
PROGRESS_BAR = re.compile(r"\[\d+:\d+(<[\d:?]+)?, ")


def test_seeded_demo_writes_the_same_report_twice(tmp_path: Path, capfd) -> None:
    reports = []
    for run in ("a", "b"):
        args = ["demo", "--out", str(tmp_path / run), "--scale", "300", "--seed", "7"]
        assert main([*args, "--pretrain-steps", "10", "--clibd-steps", "3"]) == 0
        out, err = capfd.readouterr()
        noted = [line for line in err.split("\n") if line.strip() and not PROGRESS_BAR.search(line)]
        assert out.count("\n") + len(noted) <= DEMO_LINES, out + err
        assert "Generating" not in err and "{'loss'" not in out, out + err
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


def test_missing_inputs_stop_the_demo_before_any_work(tmp_path: Path, capsys) -> None:
    """A mistyped `--bold` or `--release` is said at once, before a progress bar or a folder appears."""
    for args in (["--bold", str(tmp_path / "no" / "export.tsv")], ["--release", "~/no-such-bioscan5m"]):
        assert main(["demo", *args, "--out", str(tmp_path / "out")]) == 1
        captured = capsys.readouterr()
        assert "no such" in captured.err and "check the path" in captured.err and "[1/" not in captured.out
        assert not (tmp_path / "out").exists()
    assert main(["import-bold", str(tmp_path / "gone.tsv"), "--out", str(tmp_path / "imported")]) == 1
    assert "gone.tsv: no such BOLD export" in capsys.readouterr().err and not (tmp_path / "imported").exists()
