"""Benchmarks for the DNA side: tokenizer, embedding and MLM-training throughput.

1. Tokenizer throughput on the real BOLD barcodes (../shared/data): our batch path (vectorized
   encoder, used by both classes and `Dataset.map`) against a faithful re-implementation of the
   original BarcodeBERT tokenizer (per sequence: pad with N to 660, slice k-mers in Python, look each up
   in a dict, return tensors), plus the `tokenizers` Rust pipeline.
2. Embedding throughput (sequences/s) of the published 4-layer, 768-wide, k=8 model, with and without
   length-aware batching.
3. Masked-LM training throughput in tokens/s (real tokens, not padding) through `Trainer`.

    python bench/bench_barcodebert.py [--quick] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
BOLD = HERE.parents[1] / "shared" / "data" / "bold" / "insects_dev.tsv.gz"


def real_barcodes() -> list[str]:
    """The 48,887 real barcodes (gaps removed, as a user's cleaned export would be)."""
    with gzip.open(BOLD, "rt") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        column = header.index("nucleotides")
        return [row.split("\t")[column].replace("-", "") for row in handle.read().splitlines() if row]


class OriginalKmerTokenizer:
    """Re-implementation of the original per-sequence tokenizer (BarcodeBERT's training code)."""

    def __init__(self, k: int, max_len: int = 660) -> None:
        self.k, self.max_len = k, max_len
        kmers = ["".join(p) for p in itertools.product("ACGT", repeat=k)]
        self.vocab = {"[MASK]": 0, "[UNK]": 1, **{kmer: i + 2 for i, kmer in enumerate(kmers)}}

    def __call__(self, sequence: str) -> tuple[torch.Tensor, torch.Tensor]:
        x = sequence[: self.max_len] + "N" * max(0, self.max_len - len(sequence))
        tokens = [x[i : i + self.k] for i in range(0, len(x) - self.k + 1, self.k)]
        ids = torch.tensor([self.vocab.get(t, 1) for t in tokens], dtype=torch.int64)
        mask = torch.zeros(len(tokens), dtype=torch.int32)
        mask[: len(sequence) // self.k] = 1
        return ids, mask


def with_partial_reads(barcodes: list[str], n: int, seed: int = 0) -> list[str]:
    """A realistic length mix: `n` real barcodes drawn at random, a quarter of them cut to 150–500 nt
    (partial reads)."""
    rng = np.random.default_rng(seed)
    return [b if rng.random() > 0.25 else b[: int(rng.integers(150, 500))] for b in rng.choice(barcodes, n)]


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_tokenizer(barcodes: list[str], repeats: int) -> dict:
    """Equal outputs only are compared: the `original` preset (padded to 660 nt) against the original
    tokenizer, ids asserted equal on every barcode; the default `clean` preset is timed on its own."""
    from bioscan_hf.models.barcodebert import KmerTokenizerFast

    result = {"n_barcodes": len(barcodes)}
    for k in (4, 8):
        original = OriginalKmerTokenizer(k)
        same = KmerTokenizerFast(k=k, preset="original", strict=False)
        clean = KmerTokenizerFast(k=k)
        kwargs = {"padding": "max_length", "max_length": 660 // k, "truncation": True, "return_tensors": "pt"}
        reference = torch.stack([original(b)[0] for b in barcodes])
        if not torch.equal(same(barcodes, **kwargs)["input_ids"], reference):
            raise AssertionError(f"k={k}: the original preset's ids differ from the original tokenizer's")
        t_orig = median_time(lambda tok=original: [tok(b) for b in barcodes], repeats)
        t_same = median_time(lambda tok=same, kw=kwargs: tok(barcodes, **kw), repeats)
        t_clean = median_time(lambda tok=clean: tok(barcodes, padding=True, return_tensors="pt"), repeats)
        t_rust = median_time(lambda tok=clean: tok.backend_tokenizer.encode_batch(barcodes), repeats)
        result[f"k{k}"] = {
            "original_seq_per_s": len(barcodes) / t_orig,
            "ours_original_preset_seq_per_s": len(barcodes) / t_same,
            "speedup_equal_ids": t_orig / t_same,
            "ours_clean_preset_seq_per_s": len(barcodes) / t_clean,
            "rust_pipeline_seq_per_s": len(barcodes) / t_rust,
        }
    return result


def bench_embedding(barcodes: list[str], device: str, n: int) -> dict:
    from bioscan_hf.embedding.dna import TransformersDnaEncoder
    from bioscan_hf.models.barcodebert import BarcodeBertConfig, BarcodeBertModel, KmerTokenizerFast

    sample = with_partial_reads(barcodes, n)
    folder = Path(tempfile.mkdtemp()) / "barcodebert-8-4-4"
    BarcodeBertModel(BarcodeBertConfig()).save_pretrained(folder)  # published 8-4-4 shape, random weights
    KmerTokenizerFast(k=8, strict=False).save_pretrained(folder)
    encoder = TransformersDnaEncoder(folder, device=device, batch_size=64)
    result = {}
    for sort in (False, True):
        encoder.embed_dna(sample[:128], progress=False)  # warm-up
        seconds = median_time(
            lambda by_length=sort: encoder.embed_dna(sample, sort_by_length=by_length, progress=False),
            3,
        )
        result["length_sorted" if sort else "input_order"] = {"seq_per_s": n / seconds}
    result["speedup_length_sorted"] = result["length_sorted"]["seq_per_s"] / result["input_order"]["seq_per_s"]
    return result


def bench_mlm(barcodes: list[str], device: str, steps: int, batch_size: int) -> dict:
    import datasets
    from transformers import TrainerCallback

    from bioscan_hf.models.barcodebert import BarcodeBertConfig, BarcodeBertForMaskedLM, KmerTokenizerFast
    from bioscan_hf.training.barcodebert import OneCycleTrainer, training_arguments, with_lengths
    from bioscan_hf.training.collators import BarcodeMLMCollator

    tok = KmerTokenizerFast(k=8, strict=False)
    train = with_lengths(datasets.Dataset.from_dict({"dna_barcode": barcodes}), tok)
    counted = {"tokens": 0, "start": None, "end": None}

    class CountTokens(BarcodeMLMCollator):
        def __call__(self, examples):
            batch = super().__call__(examples)
            counted["tokens"] += int(batch["attention_mask"].sum())
            return batch

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == 5 and counted["start"] is None:  # skip warm-up steps
                counted["start"], counted["tokens_at_start"] = time.perf_counter(), counted["tokens"]

        def on_train_end(self, args, state, control, **kwargs):
            counted["end"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as out:
        args = training_arguments(
            out,
            max_steps=steps,
            per_device_train_batch_size=batch_size,
            save_strategy="no",
            logging_steps=10_000,
            use_cpu=device == "cpu",
            disable_tqdm=True,
        )
        trainer = OneCycleTrainer(
            model=BarcodeBertForMaskedLM(BarcodeBertConfig.from_preset("8-4-4")),
            args=args,
            train_dataset=train,
            data_collator=CountTokens(tok, seed=0),
            callbacks=[Clock()],
        )
        trainer.train()
    seconds = counted["end"] - counted["start"]
    tokens = counted["tokens"] - counted["tokens_at_start"]
    return {
        "tokens_per_s": tokens / seconds,
        "steps": steps,
        "batch_size": batch_size,
        "samples_per_s": (steps - 5) * batch_size / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and samples")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "barcodebert.json")
    parser.add_argument("--only-tokenizer", action="store_true", help="the tokenizer table only")
    args = parser.parse_args()
    barcodes = real_barcodes()
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "none"
    result = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, GPU: {gpu}",
        "torch": torch.__version__,
    }
    result["tokenizer"] = bench_tokenizer(barcodes, 3 if args.quick else 5)
    print(json.dumps(result["tokenizer"], indent=2), flush=True)
    if args.only_tokenizer:
        return
    result["embedding"] = bench_embedding(barcodes, args.device, 512 if args.quick else 2048)
    print(json.dumps(result["embedding"], indent=2), flush=True)
    steps = 15 if args.device == "cpu" else 200
    result["mlm"] = bench_mlm(barcodes, args.device, steps, 32 if args.device == "cpu" else 128)
    print(json.dumps(result["mlm"], indent=2), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
