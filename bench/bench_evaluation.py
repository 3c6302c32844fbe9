"""Benchmarks for the evaluation protocols (synthetic embeddings with a taxonomy-like structure).

1. Zero-shot clustering of 47,260 × 768 embeddings (the size of test + test_unseen): ours (UMAP 50 →
   one fastcluster Ward tree cut per rank) against the straightforward pipeline (UMAP 50 → scikit-learn
   `AgglomerativeClustering(linkage="ward")` per rank). Both start from the same UMAP output, so the
   clustering step is what differs; wall time, peak memory (fresh process each) and AMI per rank.
2. 1-NN at train × test size (289,203 keys × 39,373 queries × 768): FAISS exact inner product on
   L2-normalised vectors against scikit-learn `KNeighborsClassifier(n_neighbors=1, metric="cosine")`,
   as the original code does; wall time and agreement of the predictions.

    python bench/bench_evaluation.py [--points 47260] [--keys 289203] [--queries 39373] [--reference-ranks 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RANKS = ("order", "family", "genus", "species")


def taxonomy_embeddings(n: int, dim: int = 768, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Embeddings whose geometry follows a 4-level tree (order → family → genus → species) plus noise."""
    rng = np.random.default_rng(seed)
    n_species = max(8, n // 30)
    species = rng.zipf(1.3, size=n) % n_species
    genus, family, order = species // 3, species // 12, species // 60
    vectors = np.zeros((n, dim), dtype=np.float32)
    for level, scale in ((order, 4.0), (family, 3.0), (genus, 2.0), (species, 1.5)):
        centres = rng.normal(scale=scale, size=(int(level.max()) + 1, dim)).astype(np.float32)
        vectors += centres[level]
    vectors += rng.normal(scale=2.0, size=vectors.shape).astype(np.float32)
    labels = {"order": order, "family": family, "genus": genus, "species": species}
    return vectors, {k: v.astype(str) for k, v in labels.items()}


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_cluster(kind: str, workdir: Path, ranks: int) -> dict:
    """One clustering measurement in this process, from the cached UMAP output."""
    from sklearn.metrics import adjusted_mutual_info_score

    points = np.load(workdir / "umap50.npy")
    labels = dict(np.load(workdir / "labels.npz"))
    start = time.perf_counter()
    if kind == "ours":
        from bioscan_hf.evaluation.clustering import cluster_ami

        scores = cluster_ami(points, {r: labels[r] for r in RANKS[:ranks]})
    else:
        from sklearn.cluster import AgglomerativeClustering

        scores = {}
        for rank in RANKS[:ranks]:
            n = len(set(labels[rank]))
            clusters = AgglomerativeClustering(n_clusters=n, linkage="ward").fit_predict(points)
            scores[rank] = float(adjusted_mutual_info_score(labels[rank], clusters))
    return {"seconds": time.perf_counter() - start, "peak_mb": _peak_mb(), "ami": scores}


def bench_clustering(n: int, workdir: Path, reference_ranks: int) -> dict:
    from bioscan_hf.evaluation.clustering import reduce_umap

    vectors, labels = taxonomy_embeddings(n)
    start = time.perf_counter()
    points = reduce_umap(vectors, seed=0)
    umap_seconds = time.perf_counter() - start
    np.save(workdir / "umap50.npy", points)
    np.savez(workdir / "labels.npz", **labels)
    result = {"points": n, "umap_seconds": umap_seconds}
    for kind, ranks in (("ours", len(RANKS)), ("sklearn", reference_ranks)):
        out = subprocess.run(
            [sys.executable, __file__, "--run-cluster", kind, "--workdir", str(workdir), "--ranks", str(ranks)],
            capture_output=True,
            text=True,
            check=True,
        )
        result[kind] = json.loads(out.stdout.strip().splitlines()[-1])
        print(kind, result[kind], flush=True)
    per_rank = result["sklearn"]["seconds"] / reference_ranks
    result["sklearn_estimated_all_ranks_seconds"] = per_rank * len(RANKS)
    result["ami_max_difference"] = max(
        abs(result["ours"]["ami"][r] - result["sklearn"]["ami"][r]) for r in result["sklearn"]["ami"]
    )
    return result


def bench_knn(n_keys: int, n_queries: int, dim: int = 768) -> dict:
    import faiss
    from sklearn.neighbors import KNeighborsClassifier

    from bioscan_hf.core.vectors import nearest_keys

    rng = np.random.default_rng(1)
    keys, labels = taxonomy_embeddings(n_keys, dim, seed=1)
    queries = keys[rng.choice(n_keys, n_queries)] + rng.normal(scale=1.0, size=(n_queries, dim)).astype(np.float32)
    start = time.perf_counter()
    indices, _ = nearest_keys(keys, queries, 1)
    ours_seconds = time.perf_counter() - start
    ours = labels["genus"][indices[:, 0]]
    start = time.perf_counter()
    reference = KNeighborsClassifier(n_neighbors=1, metric="cosine").fit(keys, labels["genus"]).predict(queries)
    sklearn_seconds = time.perf_counter() - start
    return {
        "keys": n_keys,
        "queries": n_queries,
        "dim": dim,
        "faiss_threads": faiss.omp_get_max_threads(),
        "ours_seconds": ours_seconds,
        "sklearn_seconds": sklearn_seconds,
        "speedup": sklearn_seconds / ours_seconds,
        "identical_predictions": float(np.mean(ours == reference)),
    }


def bench_alignment(n_keys: int = 20_000, n_queries: int = 500) -> dict:
    """Alignment reference throughput on real BOLD barcodes (top-100 k-mer candidates, edlib identity)."""
    sys.path.insert(0, str(HERE))
    from bench_barcodebert import real_barcodes

    from bioscan_hf.evaluation.baselines import alignment_nearest

    barcodes = sorted(set(real_barcodes()))
    rng = np.random.default_rng(2)
    picked = rng.permutation(len(barcodes))[: n_keys + n_queries]
    keys = [barcodes[i] for i in picked[:n_keys]]
    queries = [barcodes[i] for i in picked[n_keys:]]
    start = time.perf_counter()
    alignment_nearest(keys, queries, candidates=100, progress=False)
    seconds = time.perf_counter() - start
    return {
        "keys": n_keys,
        "queries": n_queries,
        "seconds": seconds,
        "queries_per_s": n_queries / seconds,
        "alignments_per_s": n_queries * 100 / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=47_260)
    parser.add_argument("--keys", type=int, default=289_203)
    parser.add_argument("--queries", type=int, default=39_373)
    parser.add_argument(
        "--reference-ranks",
        type=int,
        default=1,
        help="ranks the scikit-learn reference clusters (each costs a full n² Ward run)",
    )
    parser.add_argument("--workdir", type=Path, default=HERE / "out")
    parser.add_argument("--skip-knn", action="store_true")
    parser.add_argument("--only-alignment", action="store_true", help="measure the alignment reference only")
    parser.add_argument("--run-cluster", help=argparse.SUPPRESS)
    parser.add_argument("--ranks", type=int, default=len(RANKS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_cluster:
        print(json.dumps(run_cluster(args.run_cluster, args.workdir, args.ranks)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.only_alignment:
        print(json.dumps(bench_alignment(), indent=2))
        return
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    result["clustering"] = bench_clustering(args.points, args.workdir, args.reference_ranks)
    if not args.skip_knn:
        result["knn"] = bench_knn(args.keys, args.queries)
        print(result["knn"], flush=True)
    (args.workdir / "evaluation.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
