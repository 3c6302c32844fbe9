"""Linear probe scaling: our L-BFGS probe (torch, loss over row chunks) against scikit-learn's
`StandardScaler` + `LogisticRegression` (lbfgs), with a nearest-class-mean classifier as the floor.

Synthetic 768-d embeddings with a species → genus → family structure; rows × classes grow together
(the paper's scale is 289,203 × 11,846). Each fit runs in a fresh process, so its peak RSS (VmHWM) is its
own; accuracy on held-out rows. scikit-learn runs up to `--sklearn-max-rows` (it grows ~9 bytes per
row × class beyond its inputs).

    python bench/bench_linear_probe.py [--sizes 5000x250,20000x1000,50000x2500] [--sklearn-max-rows 20000]
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


def embeddings(rows: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows around class centres that share genus and family components, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, rows)
    vectors = np.zeros((rows, DIM), dtype=np.float32)
    for level, scale in ((labels // 20, 3.0), (labels // 4, 2.0), (labels, 1.2)):
        centres = rng.normal(scale=scale / np.sqrt(DIM), size=(int(level.max()) + 1, DIM)).astype(np.float32)
        vectors += centres[level]
    vectors += rng.normal(scale=1.0 / np.sqrt(DIM), size=vectors.shape).astype(np.float32)
    return vectors, labels


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fit_once(kind: str, rows: int, classes: int) -> dict:
    """One fit in this process: train on 80% of the rows, score the rest."""
    vectors, labels = embeddings(rows, classes)
    cut = int(0.8 * rows)
    names = np.array([f"c{c}" for c in labels], dtype=object)
    inputs_mb = _peak_mb()
    start = time.perf_counter()
    if kind in ("lbfgs", "sgd"):
        from bioscan_hf.evaluation.probes import linear_probe

        result = linear_probe(vectors[:cut], names[:cut], vectors[cut:], names[cut:], method=kind)
        accuracy = result["micro"]
    elif kind == "sklearn":
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(vectors[:cut])
        model = LogisticRegression(max_iter=1000).fit(scaler.transform(vectors[:cut]), labels[:cut])
        accuracy = float(np.mean(model.predict(scaler.transform(vectors[cut:])) == labels[cut:]))
    else:  # nearest class mean (Euclidean), the floor a probe must beat
        seen = np.unique(labels[:cut])
        means = np.stack([vectors[:cut][labels[:cut] == c].mean(0) for c in seen])
        scores = vectors[cut:] @ means.T - 0.5 * (means**2).sum(1)  # argmax = the nearest mean
        accuracy = float(np.mean(seen[scores.argmax(1)] == labels[cut:]))
    return {
        "seconds": time.perf_counter() - start,
        "peak_mb": _peak_mb(),
        "inputs_mb": inputs_mb,
        "accuracy": accuracy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="5000x250,20000x1000,50000x2500")
    parser.add_argument("--sklearn-max-rows", type=int, default=20_000)
    parser.add_argument("--run", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(fit_once(args.run[0], int(args.run[1]), int(args.run[2]))))
        return
    import torch

    out = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
        "sizes": [],
    }
    for size in args.sizes.split(","):
        rows, classes = (int(v) for v in size.split("x"))
        entry = {"rows": rows, "classes": classes}
        kinds = ["lbfgs", "nearest_class_mean"] + (["sklearn"] if rows <= args.sklearn_max_rows else [])
        for kind in kinds:
            run = subprocess.run(
                [sys.executable, __file__, "--run", kind, str(rows), str(classes)],
                capture_output=True,
                text=True,
                check=True,
            )
            entry[kind] = json.loads(run.stdout.strip().splitlines()[-1])
            print(size, kind, entry[kind], flush=True)
        out["sizes"].append(entry)
    # the probe's own memory beyond its inputs: the weights, L-BFGS history (10 pairs) and a few chunks of logits
    rows, classes = 289_203, 11_846
    projected = (rows * DIM + 23 * DIM * classes + 3 * 4096 * classes) * 4 / 2**30
    out["projected_full_scale_gb"] = projected
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
