"""Linear probe scaling: our L-BFGS probe (torch, loss over row chunks) against scikit-learn's
`StandardScaler` + `LogisticRegression` (lbfgs), with a nearest-class-mean classifier as the floor.

Synthetic 768-d embeddings with a species → genus → family structure; rows × classes grow together
(the paper's scale is 289,203 × 11,846). Each fit runs in a fresh process, so its peak RSS (VmHWM) is its
own; accuracy on held-out rows. scikit-learn runs up to `--sklearn-max-rows` (it grows ~9 bytes per
row × class beyond its inputs).

    python bench/bench_linear_probe.py [--sizes 5000x250,10000x500,20000x1000] [--sklearn-max-rows 20000]
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

DIM = 768


def embeddings(rows: int, classes: int, seed: int = 0, subspace: int = 32, noise: float = 2.5):
    """Rows around class centres (shared genus and family components) that live in a `subspace`-d part of
    the 768 dimensions, plus isotropic noise: classes overlap, as species of one genus do."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, rows)
    basis = np.linalg.qr(rng.normal(size=(DIM, subspace)))[0].T.astype(np.float32)  # [subspace, 768]
    centres = np.zeros((rows, subspace), dtype=np.float32)
    for level, scale in ((labels // 20, 3.0), (labels // 4, 2.0), (labels, 1.5)):
        centres += rng.normal(scale=scale, size=(int(level.max()) + 1, subspace)).astype(np.float32)[level]
    vectors = centres @ basis + rng.normal(scale=noise, size=(rows, DIM)).astype(np.float32)
    return vectors.astype(np.float32), labels


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fit_once(kind: str, rows: int, classes: int, max_iter: int | None = None) -> dict:
    """One fit in this process: train on 80% of the rows, score the rest. Memory is the peak beyond what
    the process held after its libraries were imported and the embeddings made."""
    import sklearn.linear_model  # noqa: F401  (imported before the baseline, as torch is)
    import torch  # noqa: F401

    vectors, labels = embeddings(rows, classes)
    cut = int(0.8 * rows)
    names = np.array([f"c{c}" for c in labels], dtype=object)
    baseline_mb = _rss_mb()
    start = time.perf_counter()
    if kind in ("lbfgs", "sgd"):
        from bioscan_hf.evaluation.probes import linear_probe

        options = {"max_iter": max_iter} if max_iter and kind == "lbfgs" else {}
        result = linear_probe(vectors[:cut], names[:cut], vectors[cut:], names[cut:], method=kind, **options)
        accuracy = result["micro"]
    elif kind == "sklearn":
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(vectors[:cut])
        model = LogisticRegression(max_iter=max_iter or 1000).fit(scaler.transform(vectors[:cut]), labels[:cut])
        accuracy = float(np.mean(model.predict(scaler.transform(vectors[cut:])) == labels[cut:]))
    else:  # nearest class mean (Euclidean), the floor a probe must beat
        seen = np.unique(labels[:cut])
        means = np.stack([vectors[:cut][labels[:cut] == c].mean(0) for c in seen])
        scores = vectors[cut:] @ means.T - 0.5 * (means**2).sum(1)  # argmax = the nearest mean
        accuracy = float(np.mean(seen[scores.argmax(1)] == labels[cut:]))
    return {
        "seconds": time.perf_counter() - start,
        "peak_beyond_inputs_mb": _peak_mb() - baseline_mb,
        "accuracy": accuracy,
    }


def bold_kmer6() -> dict:
    """Species from k-mer-6 profiles on the real BOLD file (imported and prepared as in bench_knn_dedup)."""
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_knn_dedup import prepared_bold
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from bioscan_hf.data.prepared import load_prepared, rank_values
    from bioscan_hf.embedding.kmer import kmer_profiles
    from bioscan_hf.evaluation.probes import linear_probe

    data = load_prepared(prepared_bold(Path(tempfile.gettempdir()) / "bench_knn_dedup"))
    train, test = data["train"], data["test"]
    x_train, x_test = (kmer_profiles(s["dna_barcode"][:], 6) for s in (train, test))
    y_train, y_test = (np.array(rank_values(s, "species"), dtype=object) for s in (train, test))
    start = time.perf_counter()
    ours = linear_probe(x_train, y_train, x_test, y_test)
    ours_seconds = time.perf_counter() - start
    labelled, scored = y_train != None, y_test != None  # noqa: E711 (elementwise)
    start = time.perf_counter()
    scaler = StandardScaler().fit(x_train[labelled])
    model = LogisticRegression(max_iter=1000).fit(scaler.transform(x_train[labelled]), y_train[labelled].astype(str))
    predicted = model.predict(scaler.transform(x_test[scored]))
    return {
        "train": int(labelled.sum()),
        "species": len(set(y_train[labelled])),
        "ours": {"seconds": ours_seconds, "accuracy": ours["micro"]},
        "sklearn": {
            "seconds": time.perf_counter() - start,
            "accuracy": float(np.mean(predicted == y_test[scored].astype(str))),
            "iterations": int(model.n_iter_[0]),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="5000x250,10000x500,20000x1000")
    parser.add_argument("--sklearn-max-rows", type=int, default=20_000)
    parser.add_argument(
        "--memory-sizes",
        default="20000x1000,50000x2500,100000x5000",
        help="sizes whose peak memory is measured over 2 solver iterations (memory grows in the first)",
    )
    parser.add_argument(
        "--bold",
        action="store_true",
        help="also the real BOLD file (../shared/data): k-mer-6 profiles of train → test species, both solvers",
    )
    parser.add_argument("--run", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(fit_once(args.run[0], int(args.run[1]), int(args.run[2]), int(args.run[3]) or None)))
        return
    import torch

    out = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
        "sizes": [],
    }
    for size in filter(None, args.sizes.split(",")):
        rows, classes = (int(v) for v in size.split("x"))
        entry = {"rows": rows, "classes": classes}
        kinds = ["lbfgs", "nearest_class_mean"] + (["sklearn"] if rows <= args.sklearn_max_rows else [])
        for kind in kinds:
            run = subprocess.run(
                [sys.executable, __file__, "--run", kind, str(rows), str(classes), "0"],
                capture_output=True,
                text=True,
                check=True,
            )
            entry[kind] = json.loads(run.stdout.strip().splitlines()[-1])
            print(size, kind, entry[kind], flush=True)
        out["sizes"].append(entry)
    out["memory"] = []
    for size in filter(None, args.memory_sizes.split(",")):
        rows, classes = (int(v) for v in size.split("x"))
        entry = {"rows": rows, "classes": classes, "iterations": 2}
        for kind in ("lbfgs", "sklearn"):
            run = subprocess.run(
                [sys.executable, __file__, "--run", kind, str(rows), str(classes), "2"],
                capture_output=True,
                text=True,
                check=True,
            )
            entry[kind] = json.loads(run.stdout.strip().splitlines()[-1])
            print(size, kind, "2 iterations", entry[kind], flush=True)
        out["memory"].append(entry)
    if args.bold:
        out["bold_kmer6"] = bold_kmer6()
        print("bold kmer6", out["bold_kmer6"], flush=True)
    # the probe's own memory beyond its inputs: the weights, L-BFGS history (10 pairs) and a few chunks of logits
    rows, classes = 289_203, 11_846
    projected = (rows * DIM + 23 * DIM * classes + 3 * 4096 * classes) * 4 / 2**30
    out["projected_full_scale_gb"] = projected
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
