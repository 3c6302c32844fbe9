"""Helpers shared by tests (importable as `helpers`: pytest puts tests/ on the path)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

#: A CLIBD small enough to run in a test in well under a second.
TINY_CLIBD = {
    "image_model": "vit_tiny_patch16_224",
    "image_model_kwargs": {"depth": 2, "embed_dim": 32, "num_heads": 2, "patch_size": 8},
    "image_size": 32,
    "projection_dim": 16,
    "dna_config": {"k_mer": 4, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2},
    "text_config": {"vocab_size": 60, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2},
}


def accelerate_two_processes(*command: str, program: str | None = None) -> list[str]:
    """`accelerate launch` of a `bioscan-hf` sub-command (or of the Python script `program`) in 2 processes;
    without GPUs `--multi_gpu` starts torch.distributed processes that train on the CPU (gloo)."""
    bin_dir = Path(sys.executable).parent
    with socket.socket() as probe:  # a free rendezvous port: two such runs may overlap under pytest-xdist
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launch = ["launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--main_process_port", str(port)]
    options = ["--mixed_precision", "no", "--dynamo_backend", "no"]
    return [str(bin_dir / "accelerate"), *launch, *options, program or str(bin_dir / "bioscan-hf"), *command]
