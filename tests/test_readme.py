"""Every Python and shell snippet of README.md runs as written, in order, in a fresh folder (HOME is that
folder, so `~/…` paths land there), with the environment active as the README asks. A block that cannot run
here says why in its info string (```bash skip: needs the Hub```), so the README cannot drift."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```(?P<lang>\w+)(?P<info>[^\n]*)\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)


def readme_blocks() -> list[tuple[int, str, str, str]]:
    """(line, language, skip reason or "", code) of each bash/python block, in README order."""
    text = (ROOT / "README.md").read_text()
    blocks = []
    for match in BLOCK.finditer(text):
        if match["lang"] not in ("bash", "python"):
            continue
        info = match["info"].strip()
        reason = info.split("skip:", 1)[1].strip() if "skip:" in info else ""
        assert not info or reason, f"README line {text.count(chr(10), 0, match.start()) + 1}: unknown info {info!r}"
        blocks.append((text.count("\n", 0, match.start()) + 1, match["lang"], reason, match["code"]))
    return blocks


def test_skipped_blocks_say_why() -> None:
    blocks = readme_blocks()
    skipped = [(line, reason) for line, _, reason, _ in blocks if reason]
    assert len(blocks) - len(skipped) >= 8, "most README snippets must run"
    assert all(len(reason) > 10 for _, reason in skipped), skipped


@pytest.mark.slow
def test_readme_snippets_run_as_written(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    shared = ROOT.parent / "shared"
    if shared.exists():
        (tmp_path / "shared").symlink_to(shared)  # `../shared/data` as from a checkout
    (work / "spaces").symlink_to(ROOT / "spaces")
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "HOME": str(work),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for number, (line, lang, reason, code) in enumerate(readme_blocks()):
        if reason:
            continue
        if lang == "python":
            script = work / f"readme_snippet_{number}.py"
            script.write_text(code)
            command = [sys.executable, str(script)]
        else:
            command = ["bash", "-euo", "pipefail", "-c", code]
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, f"README line {line} ({lang}) failed:\n{code}\n--- output ---\n" + (
            done.stdout[-3000:] + done.stderr[-5000:]
        )
