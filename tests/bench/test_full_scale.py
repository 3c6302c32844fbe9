"""The full-scale benchmark's every step at a few thousand records, so its code paths stay tested (the
5.15M-record run is BENCHMARKS.md's, never CI's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_step_runs_small(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(ROOT / "bench" / "bench_full_scale.py"), "--workdir", str(tmp_path)]
    done = subprocess.run(
        [*command, "--records", "2000", "--queries", "300"], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "full_scale.json").read_text())
    steps = results["steps"]
    assert list(steps) == [
        *("generate", "prepare", "load", "reload", "stream", "splits", "bioscan_dataset", "knn"),
        *("identify_build", "graph", "audit", "cluster", "identify", "index", "index_query"),
    ]
    assert all(step["seconds"] > 0 and step["peak_rss_mb"] > 0 for step in steps.values())
    loaded = {split: rows for split, (rows, _) in steps["load"]["per_split_s"].items()}
    assert sum(loaded.values()) == 2000 and loaded == {s: r for s, (r, _) in steps["reload"]["per_split_s"].items()}
    assert steps["stream"]["records"] == loaded["pretrain"]
    seen = loaded["train"] + loaded["val"] + loaded["test"]
    assert steps["splits"]["rows"]["all"][0] <= 2000 and steps["splits"]["rows"]["seen"][0] <= seen
    for split, (rows, _) in steps["splits"]["rows"].items():  # one record per barcode, as bioscan-dataset keeps
        assert rows == steps["bioscan_dataset"]["rows"][split][0], split
    assert steps["knn"]["train->test_unseen"]["queries"] == loaded["test_unseen"]
    assert steps["identify"]["records"] == 2000 and steps["identify"]["queries"] == 300
    assert steps["identify"]["distinct"] <= steps["generate"]["distinct_haplotypes"]
    graph = steps["graph"]  # every distinct barcode of a small release is in the sample
    assert graph["sample"] == graph["distinct"] == steps["identify"]["distinct"] and graph["median_hits_kept"] >= 1
    assert steps["audit"]["records"] == steps["cluster"]["records"] == 2000 and steps["cluster"]["graph_cached"]
    assert 1 <= steps["cluster"]["clusters"] <= graph["distinct"] and steps["cluster"]["bins"]["bins"] >= 1
    assert steps["index_query"]["keys"] == 2000 and 0.9 <= steps["index_query"]["recall_at_10"] <= 1
