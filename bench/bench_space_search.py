"""Benchmark: one-query latency of the Space's search at 100k and 1M keys, exact vs approximate.

Synthetic 768-d embeddings with a taxonomy structure (as in bench_evaluation). Per index: build time,
p50/p95 latency of single queries (what a Space request does), recall@1 and @10 against exact search.

    python bench/bench_space_search.py [--sizes 100000 1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import faiss
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_evaluation import taxonomy_embeddings  # noqa: E402

from bioscan_hf.retrieval import ivf_index  # noqa: E402  (the index the Space builds with --approximate)


def latencies(index: faiss.Index, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, list[float]]:
    found, times = [], []
    for q in queries:
        start = time.perf_counter()
        _, ids = index.search(q[None, :], k)
        times.append((time.perf_counter() - start) * 1000)
        found.append(ids[0])
    return np.array(found), times


def recall(found: np.ndarray, exact: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(e[:k])) / k for f, e in zip(found, exact)]))


def bench_size(n: int, n_queries: int, hnsw: bool) -> dict:
    keys, _ = taxonomy_embeddings(n, seed=3)
    faiss.normalize_L2(keys)
    rng = np.random.default_rng(4)
    queries = keys[rng.choice(n, n_queries)] + rng.normal(scale=0.02, size=(n_queries, keys.shape[1])).astype("f4")
    faiss.normalize_L2(queries)
    result = {"keys": n}
    exact = faiss.IndexFlatIP(keys.shape[1])
    exact.add(keys)
    truth, times = latencies(exact, queries)
    result["exact"] = {"p50_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95))}
    candidates = {"ivf": lambda: filled(ivf_index(keys), keys)}
    if hnsw:
        candidates["hnsw"] = lambda: hnsw_index(keys)
    for name, build in candidates.items():
        start = time.perf_counter()
        index = build()
        built = time.perf_counter() - start
        for setting in (32, 64, 128, 256):  # nprobe for IVF, efSearch for HNSW: recall against latency
            if name == "ivf":
                index.nprobe = setting
            else:
                index.hnsw.efSearch = setting
            found, times = latencies(index, queries)
            result[f"{name}_{setting}"] = {
                "build_s": built,
                "p50_ms": float(np.median(times)),
                "p95_ms": float(np.percentile(times, 95)),
                "recall_at_1": recall(found, truth, 1),
                "recall_at_10": recall(found, truth, 10),
            }
            print(n, name, setting, result[f"{name}_{setting}"], flush=True)
    return result


def filled(index: faiss.Index, keys: np.ndarray) -> faiss.Index:
    index.add(keys)
    return index


def hnsw_index(keys: np.ndarray) -> faiss.Index:
    index = faiss.IndexHNSWFlat(keys.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efSearch = 128
    index.add(keys)
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--hnsw-max", type=int, default=200_000, help="largest size to build HNSW for")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "space_search.json")
    args = parser.parse_args()
    faiss.omp_set_num_threads(2)
    result = {"machine": f"{platform.machine()}, {faiss.omp_get_max_threads()} threads"}
    for n in args.sizes:
        result[str(n)] = bench_size(n, args.queries, hnsw=n <= args.hnsw_max)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
