"""Run-size presets shared by the command line and the Python API (a light module: `bioscan-hf --help`
reads it without importing torch)."""

from __future__ import annotations

#: The demo's training steps (BarcodeBERT pre-training, CLIBD alignment): the default run (≤ 5 minutes on
#: 2 CPU cores, BENCHMARKS.md) and `--full`.
DEMO_STEPS: dict[str, tuple[int, int]] = {"quick": (300, 60), "full": (1000, 300)}
