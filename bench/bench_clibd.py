"""Benchmarks for CLIBD: training throughput (samples/s) through `Trainer`, and embedding throughput per
modality.

1. Training: `train_clibd` on a prepared image config (images decoded and augmented in the collator, as
   in a real run), the published model (ViT-B/16 at 224 px, BarcodeBERT k=5, text BERT 512) with LoRA
   (rank 4) against full fine-tuning (the reference), and the `small` preset. Median seconds per step
   after two warm-up steps.
2. Embedding: samples/s of `get_image_features` (224 px), `get_dna_features` (658-nt barcodes) and
   `get_text_features` ("order family genus species") of the published model, batch 32.

    python bench/bench_clibd.py [--dataset DIR] [--device cpu|cuda] [--steps 8] [--batch 16]

Without --dataset a 600-record synthetic sample is generated and prepared (cropped_256).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback

HERE = Path(__file__).resolve().parent


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._last = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._last = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter() - self._last)


def training_throughput(dataset: Path, preset: str, finetune: str, steps: int, batch: int, device: str) -> dict:
    """Median samples/s of CLIBD training steps (after 2 warm-up steps)."""
    from bioscan_hf.training.clibd import train_clibd

    timer = StepTimer()
    with tempfile.TemporaryDirectory() as out:
        train_clibd(
            dataset,
            out,
            preset=preset,
            finetune=finetune,
            callbacks=[timer],
            max_steps=steps + 2,
            per_device_train_batch_size=batch,
            save_steps=10_000,
            logging_steps=10_000,
            disable_tqdm=True,
            use_cpu=device == "cpu",
        )
    step = statistics.median(timer.times[2:])
    return {"preset": preset, "finetune": finetune, "batch": batch, "s_per_step": step, "samples_per_s": batch / step}


@torch.inference_mode()
def embedding_throughput(device: str, batch: int = 32, repeats: int = 5) -> dict:
    """Samples/s of each tower of the published model (features projected and normalised)."""
    from bioscan_hf.models.barcodebert import KmerTokenizerFast
    from bioscan_hf.models.clibd import ClibdConfig, ClibdModel

    model = ClibdModel(ClibdConfig()).eval().to(device)
    rng = np.random.default_rng(0)
    barcodes = ["".join(rng.choice(list("ACGT"), size=658)) for _ in range(batch)]
    dna = KmerTokenizerFast(k=5)(barcodes, padding=True, return_tensors="pt").to(device)
    text_ids = torch.randint(5, 1000, (batch, 6), device=device)
    pixels = torch.randn(batch, 3, 224, 224, device=device)
    calls = {
        "image": lambda: model.get_image_features(pixels),
        "dna": lambda: model.get_dna_features(dna["input_ids"], dna["attention_mask"]),
        "text": lambda: model.get_text_features(text_ids, torch.ones_like(text_ids)),
    }
    result = {}
    for name, call in calls.items():
        call()  # warm-up
        times = []
        for _ in range(repeats):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            call()
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        result[name] = batch / statistics.median(times)
    return result


def sample_dataset(folder: Path) -> Path:
    """A 600-record synthetic sample prepared with the cropped_256 config."""
    from bioscan_hf.data.publish import prepare
    from bioscan_hf.data.sample import write_sample_release

    release = write_sample_release(folder / "release", scale=600, seed=3)
    prepare(release, folder / "dataset", configs=["metadata", "cropped_256"])
    return folder / "dataset"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, help="prepared dataset folder with cropped_256 (default: a sample)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per configuration")
    parser.add_argument("--batch", type=int, default=16, help="training batch size of the published model")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "clibd.json")
    args = parser.parse_args()
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {args.device}"
    if args.device == "cuda":
        machine += f" ({torch.cuda.get_device_name()})"
    with tempfile.TemporaryDirectory() as scratch:
        dataset = args.dataset or sample_dataset(Path(scratch))
        training = [
            training_throughput(dataset, "published", "full", args.steps, args.batch, args.device),
            training_throughput(dataset, "published", "lora", args.steps, args.batch, args.device),
            training_throughput(dataset, "small", "full", args.steps, 64, args.device),
        ]
    reference = training[0]["samples_per_s"]
    for row in training:
        row["vs_published_full"] = row["samples_per_s"] / reference
    report = {"machine": machine, "training": training, "embedding_samples_per_s": embedding_throughput(args.device)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
