"""Benchmark: one-query latency of the Space's search at 100k and 1M keys, exact vs approximate.

Synthetic 768-d embeddings with a taxonomy structure (as in bench_evaluation). Per index: build time,
p50/p95 latency of single queries (what a Space request does), recall@1 and @10 against exact search.

    python bench/bench_space_search.py [--sizes 100000 1000000] [--queries 200]
    python bench/bench_space_search.py --full 5150000     # BIOSCAN-5M's size, keys streamed in chunks

`--full` never holds the float32 keys (15.8 GB at 5.15M × 768): keys are generated chunk by chunk twice
(the generator is seeded), once to sample training vectors and queries, once to fill the index and
compute the exact top-10 of every query by merging per-chunk results.
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

from bioscan_hf.core.vectors import ivf_index, ivf_list_count, trained_ivf  # noqa: E402  (what `bioscan-hf index --approximate` builds)


def latencies(index: faiss.Index, queries: np.ndarray, k: int = 10, repeats: int = 1) -> tuple[np.ndarray, list[float]]:
    """Top-k ids per query and every single-query time (ms) over `repeats` passes (pooled: a steadier p95)."""
    times = []
    for _ in range(repeats):
        found = []
        for q in queries:
            start = time.perf_counter()
            _, ids = index.search(q[None, :], k)
            times.append((time.perf_counter() - start) * 1000)
            found.append(ids[0])
    return np.array(found), times


def recall(found: np.ndarray, exact: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(e[:k])) / k for f, e in zip(found, exact)]))


def bench_size(n: int, n_queries: int, hnsw: bool, sq8: bool, repeats: int) -> dict:
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
    candidates = {"ivf": lambda: filled(ivf_index(keys, compress=False), keys)}
    if sq8:  # what 8-bit codes (the full-size default) cost in recall, at a size where both fit
        candidates["ivf_sq8"] = lambda: filled(ivf_index(keys, compress=True), keys)
    if hnsw:
        candidates["hnsw"] = lambda: hnsw_index(keys)
    for name, build in candidates.items():
        start = time.perf_counter()
        index = build()
        built = time.perf_counter() - start
        for setting in (32, 64, 128, 192, 256):  # nprobe for IVF, efSearch for HNSW: recall against latency
            if name.startswith("ivf"):
                index.nprobe = setting
            else:
                index.hnsw.efSearch = setting
            found, times = latencies(index, queries, repeats=repeats)
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


def streamed_keys(n: int, dim: int = 768, seed: int = 3, chunk: int = 250_000):
    """(start, L2-normalised chunk) pairs of `n` keys with `taxonomy_embeddings`' tree structure."""
    rng = np.random.default_rng(seed)
    species = rng.zipf(1.3, size=n) % max(8, n // 30)
    levels = ((species // 60, 4.0), (species // 12, 3.0), (species // 3, 2.0), (species, 1.5))
    centres = [rng.normal(scale=scale, size=(int(level.max()) + 1, dim)).astype("f4") for level, scale in levels]
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        vectors = rng.normal(scale=2.0, size=(stop - start, dim)).astype("f4")
        for (level, _), table in zip(levels, centres):
            vectors += table[level[start:stop]]
        faiss.normalize_L2(vectors)
        yield start, vectors


def bench_full(n: int, n_queries: int) -> dict:
    """Build the approximate index at `n` keys from streamed chunks; latency and recall against exact."""
    import resource

    rng = np.random.default_rng(4)
    sample_ids = np.sort(rng.choice(n, 40 * ivf_list_count(n), replace=False))
    query_ids = np.sort(rng.choice(n, n_queries, replace=False))
    sample, queries = [], []
    for start, chunk in streamed_keys(n):
        stop = start + len(chunk)
        sample.append(chunk[sample_ids[(sample_ids >= start) & (sample_ids < stop)] - start])
        queries.append(chunk[query_ids[(query_ids >= start) & (query_ids < stop)] - start])
    queries = np.concatenate(queries) + rng.normal(scale=0.02, size=(n_queries, 768)).astype("f4")
    faiss.normalize_L2(queries)
    started = time.perf_counter()
    index = trained_ivf(np.concatenate(sample), n)
    del sample
    trained = time.perf_counter() - started
    best = np.full((n_queries, 10), -np.inf, dtype="f4")
    truth = np.zeros((n_queries, 10), dtype=np.int64)
    adding = 0.0
    for start, chunk in streamed_keys(n):
        tick = time.perf_counter()
        index.add(chunk)
        adding += time.perf_counter() - tick
        scores = queries @ chunk.T  # exact top-10, merged chunk by chunk
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        merged_scores = np.hstack([best, np.take_along_axis(scores, top, axis=1)])
        merged_ids = np.hstack([truth, top + start])
        order = np.argsort(-merged_scores, axis=1)[:, :10]
        best, truth = np.take_along_axis(merged_scores, order, 1), np.take_along_axis(merged_ids, order, 1)
    result = {
        "keys": n,
        "index": type(index).__name__,
        "lists": index.nlist,
        "train_s": trained,
        "add_s": adding,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
    }
    for nprobe in (64, 128, 256, 512):
        index.nprobe = nprobe
        found, times = latencies(index, queries)
        result[f"nprobe_{nprobe}"] = {
            "p50_ms": float(np.median(times)),
            "p95_ms": float(np.percentile(times, 95)),
            "recall_at_1": recall(found, truth, 1),
            "recall_at_10": recall(found, truth, 10),
        }
        print(n, nprobe, result[f"nprobe_{nprobe}"], flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--hnsw-max", type=int, default=200_000, help="largest size to build HNSW for")
    parser.add_argument("--sq8-min", type=int, default=1_000_000, help="smallest size to also build IVF-SQ8 for")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the queries per setting (times pooled)")
    parser.add_argument("--full", type=int, help="only this size, with keys streamed (e.g. 5150000)")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "space_search.json")
    args = parser.parse_args()
    faiss.omp_set_num_threads(2)
    result = {"machine": f"{platform.machine()}, {faiss.omp_get_max_threads()} threads"}
    if args.full:
        result[str(args.full)] = bench_full(args.full, args.queries)
        args.out.with_name("space_search_full.json").write_text(json.dumps(result, indent=2))
        print(json.dumps(result, indent=2))
        return
    for n in args.sizes:
        result[str(n)] = bench_size(
            n, args.queries, hnsw=n <= args.hnsw_max, sq8=n >= args.sq8_min, repeats=args.repeats
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
