"""The README's count of damaged-input cases equals the tests marked `damaged_input`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_damaged_input_count_in_readme() -> None:
    claimed = re.search(r"holds (\d+) damaged-input cases", (ROOT / "README.md").read_text())
    assert claimed, "README.md no longer states the count of damaged-input cases"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "damaged_input", "-p", "no:xdist"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    collected = re.search(r"(\d+)/\d+ tests collected", out.stdout)
    assert collected, out.stdout[-2000:]
    assert int(claimed.group(1)) == int(collected.group(1))
