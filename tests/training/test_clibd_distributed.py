"""`ClibdModel` + `ClibdTrainer` under `accelerate launch` with 2 CPU processes equal one process on the same
global batch, with records missing a modality: same loss, pair losses and gradients after one step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from helpers import accelerate_two_processes

SCRIPT = Path(__file__).with_name("clibd_one_step.py")


def test_two_processes_equal_one(tmp_path: Path) -> None:
    search_path = [str(SCRIPT.parents[1]), *filter(None, [os.environ.get("PYTHONPATH")])]  # tests/ for helpers
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(search_path)}
    one, two = tmp_path / "one", tmp_path / "two"
    single = subprocess.run([sys.executable, str(SCRIPT), str(one)], env=env, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-3000:]
    launched = subprocess.run(
        accelerate_two_processes(str(two), program=str(SCRIPT)), env=env, capture_output=True, text=True, timeout=300
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    reference = torch.load(one / "rank0.pt", weights_only=True)
    assert reference["world_size"] == 1
    assert set(reference["losses"]) == {"loss", "image_dna", "image_text", "dna_text"}
    towers = {name.split(".")[0] for name, grad in reference["gradients"].items() if grad.abs().sum() > 0}
    assert {"image_model", "dna_model", "text_model", "logit_scale"} <= towers  # every tower learns
    for rank in (0, 1):
        result = torch.load(two / f"rank{rank}.pt", weights_only=True)
        assert result["world_size"] == 2
        for name, value in reference["losses"].items():
            torch.testing.assert_close(result["losses"][name], value, msg=f"rank {rank}: {name}")
        assert result["gradients"].keys() == reference["gradients"].keys()
        for name, grad in reference["gradients"].items():
            torch.testing.assert_close(result["gradients"][name], grad, rtol=1e-4, atol=1e-5, msg=name)
