"""Two CPU processes with a global batch give the loss and gradients of one process with that batch."""

from __future__ import annotations

import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bioscan_hf.models.clibd.modeling_clibd import clibd_loss, gather_with_grad

GLOBAL_BATCH, DIM = 8, 6


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.nn.Linear, torch.nn.Linear]:
    torch.manual_seed(0)
    images, barcodes = torch.randn(GLOBAL_BATCH, 5), torch.randn(GLOBAL_BATCH, 7)
    return images, barcodes, torch.nn.Linear(5, DIM), torch.nn.Linear(7, DIM)


def _loss(image_tower, dna_tower, images, barcodes, gather) -> torch.Tensor:
    features = {
        "image": torch.nn.functional.normalize(image_tower(images), dim=-1),
        "dna": torch.nn.functional.normalize(dna_tower(barcodes), dim=-1),
    }
    if gather:
        features = {k: gather_with_grad(v) for k, v in features.items()}
    masks = {k: torch.ones(len(v), dtype=torch.bool) for k, v in features.items()}
    return clibd_loss(features, masks, torch.tensor(10.0))[0]


def _worker(rank: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    images, barcodes, image_tower, dna_tower = _inputs()
    half = slice(rank * GLOBAL_BATCH // 2, (rank + 1) * GLOBAL_BATCH // 2)
    loss = _loss(image_tower, dna_tower, images[half], barcodes[half], gather=True)
    loss.backward()
    grads = [p.grad for p in (*image_tower.parameters(), *dna_tower.parameters())]
    for grad in grads:  # what DistributedDataParallel does: average the parameters' gradients
        dist.all_reduce(grad)
        grad /= 2
    torch.save({"loss": loss.detach(), "grads": grads}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_two_processes_match_one(tmp_path: Path) -> None:
    images, barcodes, image_tower, dna_tower = _inputs()
    loss = _loss(image_tower, dna_tower, images, barcodes, gather=False)
    loss.backward()
    expected = [p.grad for p in (*image_tower.parameters(), *dna_tower.parameters())]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_worker, args=(port, str(tmp_path)), nprocs=2, start_method="spawn")
    for rank in range(2):
        result = torch.load(tmp_path / f"rank{rank}.pt")
        torch.testing.assert_close(result["loss"], loss.detach())
        for got, want in zip(result["grads"], expected):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
