"""Embedding throughput of the later published barcode models beside BarcodeBERT 8-4-4 (the reference,
measured in the same run), through the embedding layer every command uses (`load_encoder(folder)`).

Models at their published shapes with random weights (speed does not depend on them): BarcodeMamba
dim384-layer2 and dim768-layer6 with characters (660 tokens per barcode) and dim384-layer2 with 6-mers
(110 tokens), BarcodeMAE's 6-6-6 encoder (a BarcodeBERT folder: 6-mers, 6 layers, 6 heads, 768 wide).
Real BOLD barcodes (../shared/data), a quarter cut to 150–500 nt, each family's default batch (BarcodeBERT
256, BarcodeMamba 4: `--batch-size` gives one for all); medians of 3 timed runs after a warm-up. On a
CPU, transformers runs Mamba-2 with its PyTorch scan (no mamba_ssm kernels).

Then fine-tuning: records per second of whole training steps (forward, cross-entropy over 1,000 species,
backward, AdamW step) of each folder opened as `finetune` opens it (AutoModelForSequenceClassification,
its own tokenizer), at BarcodeMamba's fine-tuning batch of 16 for every model; median of 3 steps after one.

    python bench/bench_barcode_models.py [--device cpu|cuda] [--n 256] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from bench_barcodebert import real_barcodes, with_partial_reads
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from bioscan_hf.embedding import load_encoder
from bioscan_hf.models.barcodebert import BarcodeBertConfig, BarcodeBertModel, KmerTokenizerFast
from bioscan_hf.models.barcodemamba import BarcodeMambaConfig, BarcodeMambaModel
from bioscan_hf.models.barcodemamba.tokenization_barcodemamba import tokenizer_for

HERE = Path(__file__).resolve().parent


def barcodebert_folder(folder: Path, **fields) -> Path:
    config = BarcodeBertConfig(vocab_preset="original", **fields)
    BarcodeBertModel(config).save_pretrained(folder)
    KmerTokenizerFast(k=config.k_mer, preset="original", strict=False).save_pretrained(folder)
    return folder


def barcodemamba_folder(folder: Path, preset: str, **fields) -> Path:
    config = BarcodeMambaConfig.from_preset(preset, **fields)
    BarcodeMambaModel(config).save_pretrained(folder)
    tokenizer_for(config, strict=False).save_pretrained(folder)
    return folder


def throughput(folder: Path, sample: list[str], device: str, batch_size: int | None) -> float:
    """Sequences per second, median of 3 runs after a warm-up."""
    encoder = load_encoder(str(folder), device=device, batch_size=batch_size)
    encoder.embed_dna(sample[:16], progress=False)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        encoder.embed_dna(sample, progress=False)
        times.append(time.perf_counter() - start)
    return len(sample) / statistics.median(times)


def training_throughput(folder: Path, sample: list[str], device: str, batch: int = 16, steps: int = 3) -> float:
    """Records per second of fine-tuning steps (forward, loss, backward, AdamW), median of `steps` after one."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1000).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    labels = torch.randint(0, 1000, (batch,), generator=torch.Generator().manual_seed(0)).to(device)
    times = []
    for step in range(steps + 1):
        barcodes = [sample[(step * batch + i) % len(sample)] for i in range(batch)]
        start = time.perf_counter()
        inputs = tokenizer(barcodes, padding=True, return_tensors="pt").to(device)
        model(**inputs, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n", type=int, default=256, help="barcodes per timed run")
    parser.add_argument("--batch-size", type=int, default=None, help="default: each family's own")
    parser.add_argument("--steps", type=int, default=3, help="timed fine-tuning steps per model")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "barcode_models.json")
    args = parser.parse_args()
    sample = with_partial_reads(real_barcodes(), args.n)
    root = Path(tempfile.mkdtemp())
    models = {
        "BarcodeBERT 8-4-4 (reference)": barcodebert_folder(root / "bb"),
        "BarcodeMAE 6-6-6 encoder": barcodebert_folder(
            root / "mae", k_mer=6, num_hidden_layers=6, num_attention_heads=6
        ),
        "BarcodeMamba dim384-layer2, characters": barcodemamba_folder(root / "m384c", "dim384-layer2"),
        "BarcodeMamba dim384-layer2, 6-mers": barcodemamba_folder(
            root / "m384k", "dim384-layer2", tokenizer="k_mer", k_mer=6
        ),
        "BarcodeMamba dim768-layer6, characters": barcodemamba_folder(root / "m768c", "dim768-layer6"),
    }
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "none"
    result = {"machine": f"{platform.machine()}, {torch.get_num_threads()} threads, GPU: {gpu}", "n": args.n}
    for name, folder in models.items():
        result[name] = {"seq_per_s": throughput(folder, sample, args.device, args.batch_size)}
        print(name, f"{result[name]['seq_per_s']:.1f} sequences/s", flush=True)
    for name, folder in models.items():
        result[name]["finetune_records_per_s"] = training_throughput(folder, sample, args.device, steps=args.steps)
        print(name, f"fine-tuning {result[name]['finetune_records_per_s']:.2f} records/s", flush=True)
    for key, ratio in (("seq_per_s", "vs_barcodebert"), ("finetune_records_per_s", "finetune_vs_barcodebert")):
        reference = result["BarcodeBERT 8-4-4 (reference)"][key]
        for name in models:
            result[name][ratio] = result[name][key] / reference
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
