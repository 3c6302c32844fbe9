"""Benchmark: reading one split of a full-size (5,150,850-row) metadata CSV.

Ours (`bioscan_hf.data.read_metadata`, Arrow streaming + filter) against what users do today:
`pandas.read_csv` with bioscan-dataset's dtypes, then filtering on `split`. Each measurement runs in
a fresh process (peak RSS is per process); the median of --repeats runs is reported.
Also: `bioscan-hf prepare` on the metadata config (records/s, MB/s) and opening the prepared split
with `datasets.load_dataset` (first open, which builds datasets' Arrow cache, and re-open, memory-mapped).

    python bench/bench_metadata_reader.py [--rows 5150850] [--repeats 3] [--skip-prepare]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

HERE = Path(__file__).resolve().parent
FULL_ROWS = 5_150_850
#: Split shares of the real release (SPEC §1.3).
SPLIT_SHARES = {
    "pretrain": 4_677_756,
    "train": 289_203,
    "val": 14_757,
    "test": 39_373,
    "key_unseen": 36_465,
    "val_unseen": 8_819,
    "test_unseen": 7_887,
    "other_heldout": 76_590,
}
#: bioscan-dataset's dtypes for the BIOSCAN-5M CSV (its COLUMN_DTYPES), the reference users run today.
PANDAS_DTYPES = {
    "processid": str,
    "sampleid": str,
    "taxon": "category",
    "phylum": "category",
    "class": "category",
    "order": "category",
    "family": "category",
    "subfamily": "category",
    "genus": "category",
    "species": "category",
    "dna_bin": "category",
    "dna_barcode": str,
    "country": "category",
    "province_state": "category",
    "coord-lat": float,
    "coord-lon": float,
    "image_measurement_value": float,
    "area_fraction": float,
    "scale_factor": float,
    "inferred_ranks": "uint8",
    "split": str,
    "index_bioscan_1M_insect": "Int64",
    "chunk": str,
}


def generate_csv(path: Path, rows: int, seed: int = 0) -> None:
    """Write a metadata CSV with the release's columns, split shares and value shapes (synthetic)."""
    from bioscan_hf.data.sample import generate_records

    template, _, _ = generate_records(4000, seed=seed)
    pool = [r["dna_barcode"] for r in template]
    species = sorted({r["species"] for r in template if r["species"]})
    rng = np.random.default_rng(seed)
    splits = np.repeat(list(SPLIT_SHARES), list(SPLIT_SHARES.values()))
    splits = splits[rng.permutation(len(splits))][:rows] if rows <= FULL_ROWS else rng.choice(splits, rows)
    tmp = path.with_suffix(".tmp")
    with pacsv.CSVWriter(tmp, _schema()) as writer:
        for start in range(0, rows, 250_000):
            n = min(250_000, rows - start)
            idx = rng.integers(0, len(template), n)
            part = splits[start : start + n]
            has_species = part != "pretrain"
            table = pa.table(
                {
                    "processid": [f"BSC{start + i:08d}-23" for i in range(n)],
                    "sampleid": [f"BIOUG{start + i:08d}-A01" for i in range(n)],
                    "taxon": [template[i]["taxon"] for i in idx],
                    "phylum": ["Arthropoda"] * n,
                    "class": ["Insecta"] * n,
                    "order": [template[i]["order"] for i in idx],
                    "family": [template[i]["family"] for i in idx],
                    "subfamily": [template[i]["subfamily"] for i in idx],
                    "genus": [template[i]["genus"] for i in idx],
                    "species": [species[i % len(species)] if h else None for i, h in zip(idx, has_species)],
                    "dna_bin": [template[i]["dna_bin"] for i in idx],
                    "dna_barcode": [pool[i] for i in idx],
                    "country": [template[i]["country"] for i in idx],
                    "province_state": [template[i]["province_state"] for i in idx],
                    **measurement_columns(rng, n),
                    "split": part,
                    "index_bioscan_1M_insect": [f"{v}.0" if v % 5 == 0 else None for v in rng.integers(0, 1e6, n)],
                    "chunk": [f"{v:02x}" for v in rng.integers(0, 256, n)],
                },
                schema=_schema(),
            )
            writer.write_table(table)
    tmp.replace(path)


def measurement_columns(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """The numeric columns of `n` generated records: coordinates, image measurements, inferred ranks."""
    return {
        "coord-lat": rng.normal(30, 20, n).round(4),
        "coord-lon": rng.normal(-40, 60, n).round(4),
        "image_measurement_value": rng.integers(1000, 200_000, n),
        "area_fraction": rng.random(n).round(4),
        "scale_factor": rng.uniform(0.3, 3, n).round(4),
        "inferred_ranks": rng.integers(0, 3, n).astype(np.int8),
    }


def _schema() -> pa.Schema:
    from bioscan_hf.data.schema import METADATA_COLUMNS

    types = {**METADATA_COLUMNS, "index_bioscan_1M_insect": pa.string()}
    return pa.schema([pa.field(c, t) for c, t in types.items()])


def _peak_rss_mb() -> float:
    # VmHWM belongs to this process image; ru_maxrss would carry over the parent's peak across fork/exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(kind: str, csv_path: str, split: str) -> dict:
    """One measurement, in this process: read `split`; returns rows, seconds and peak RSS."""
    start = time.perf_counter()
    if kind == "ours":
        from bioscan_hf.data.metadata import read_metadata

        rows = read_metadata(csv_path, split).num_rows
    elif kind == "pandas":
        import pandas as pd

        frame = pd.read_csv(csv_path, dtype=PANDAS_DTYPES, keep_default_na=False, na_values=[""])
        rows = len(frame[frame["split"] == split])
    elif kind == "load_dataset":
        import datasets

        rows = datasets.load_dataset(csv_path, "metadata", split=split).num_rows
    else:
        raise ValueError(kind)
    return {"rows": rows, "seconds": time.perf_counter() - start, "peak_rss_mb": _peak_rss_mb()}


def measure(kind: str, csv_path: Path, split: str, repeats: int, env: dict | None = None) -> dict:
    """Median of `repeats` fresh-process runs."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, __file__, "--run", kind, "--csv", str(csv_path), "--split", split],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **(env or {})},
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "rows": runs[0]["rows"],
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
        "runs": runs,
    }


def bench_prepare(csv_path: Path, workdir: Path) -> dict:
    """Time `prepare` of the metadata config (records/s, MB/s of CSV)."""
    from bioscan_hf.data.publish import prepare
    from bioscan_hf.data.staging import release_summary

    release = workdir / "release"
    release.mkdir(exist_ok=True)
    link = release / "BIOSCAN_5M_Insect_Dataset_metadata.csv"
    if not link.exists():
        link.symlink_to(csv_path)
    start = time.perf_counter()
    release_summary(link)
    summary_seconds = time.perf_counter() - start
    out = workdir / "prepared"
    start = time.perf_counter()
    prepare(release, out, configs=["metadata"], overwrite=True)
    seconds = time.perf_counter() - start
    size = csv_path.stat().st_size
    rows = sum(release_summary(link)["split_counts"].values())
    return {
        "label_pass_seconds": summary_seconds,
        "prepare_seconds": seconds,
        "records_per_s": rows / seconds,
        "mb_per_s": size / 1e6 / seconds,
        "prepared": str(out),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=FULL_ROWS)
    parser.add_argument("--split", default="test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=HERE / "out")
    parser.add_argument("--skip-prepare", action="store_true")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_one(args.run, args.csv, args.split)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    csv_path = args.workdir / f"metadata_{args.rows}.csv"
    if not csv_path.exists():
        print(f"generating {args.rows:,}-row CSV at {csv_path} …", flush=True)
        generate_csv(csv_path, args.rows)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "csv_bytes": csv_path.stat().st_size,
        "rows": args.rows,
        "split": args.split,
    }
    for kind in ("ours", "pandas"):
        print(f"measuring {kind} …", flush=True)
        result[kind] = measure(kind, csv_path, args.split, args.repeats)
    assert result["ours"]["rows"] == result["pandas"]["rows"], "readers disagree on the split's size"
    result["speedup"] = result["pandas"]["seconds"] / result["ours"]["seconds"]
    result["memory_ratio"] = result["ours"]["peak_rss_mb"] / result["pandas"]["peak_rss_mb"]
    if not args.skip_prepare:
        print("measuring prepare (metadata config) …", flush=True)
        prep = bench_prepare(csv_path, args.workdir)
        result["prepare"] = prep
        env = {"HF_DATASETS_CACHE": str(args.workdir / "hf_cache"), "HF_HUB_OFFLINE": "1"}
        result["load_dataset_first"] = measure("load_dataset", Path(prep["prepared"]), args.split, 1, env)
        result["load_dataset_reopen"] = measure("load_dataset", Path(prep["prepared"]), args.split, args.repeats, env)
    (args.workdir / "metadata_reader.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k not in ("ours", "pandas")}, indent=2, default=str))
    for kind in ("ours", "pandas"):
        r = result[kind]
        print(f"{kind:7s} {r['seconds']:8.2f} s  peak {r['peak_rss_mb']:8.0f} MB  rows {r['rows']}")


if __name__ == "__main__":
    main()
