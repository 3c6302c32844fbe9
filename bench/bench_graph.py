"""All against all: the neighbour graph (`bioscan_hf.search.graph`) at growing library sizes, beside the
exhaustive search it replaces and MMseqs2's linear-time clustering (`mmseqs easy-linclust`, the issue's peer
for all-against-all work), measured in the same run on the same files.

Libraries: the distinct barcodes of the real BOLD file (../shared/data, 23,128), grown to each `--sizes`
entry with variants of its barcodes (1–12 substitutions each, the template's labels: synthetic additions,
as `bench_full_scale.py` makes the full-size release), so that each size holds the real file's clades, more
densely sampled.

Per size, each step in a fresh process (wall time and peak memory of the step alone):
- `graph`: `build_graph` of every distinct barcode, `--num-proc` processes; then, timed apart, the BIN-like
  clusters `bioscan-hf cluster` makes from it (single linkage and refinement, one process; the step's peak
  memory covers both);
- `exhaustive`: the engine with every shared seed counted (what the audit did before), on `--sample` of the
  barcodes, projected to all of them (its cost per barcode grows with the library: quadratic in total);
- recall: of those sample barcodes, the share whose best other hit in the graph scores as well as the
  exhaustive search's best other hit;
- `linclust`: `mmseqs easy-linclust --min-seq-id 0.9 --threads N` on the same FASTA (clusters, not
  neighbours: the time of a linear-time all-against-all pass).

Written to bench/graph.json; BENCHMARKS.md quotes it.

    python bench/bench_graph.py [--sizes 25000,50000,100000,200000] [--num-proc 2] [--out bench/graph.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BOLD = HERE.parents[1] / "shared" / "data" / "bold" / "insects_dev.tsv.gz"


def grown_library(size: int, seed: int = 0):
    """The BOLD file's distinct barcodes (with their records' labels), grown to `size` distinct barcodes by
    variants of random templates (1–12 substitutions each)."""
    import pandas as pd

    from bioscan_hf.data.sources import Problems
    from bioscan_hf.search.references import read_references

    table = read_references(BOLD, None, Problems(skip=True))
    table = table.drop_duplicates("dna_barcode").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    rows, seen = [], set(table["dna_barcode"])
    while len(table) + len(rows) < size:
        template = table.iloc[int(rng.integers(len(table)))]
        bases = np.array(list(template["dna_barcode"]))
        where = rng.choice(len(bases), int(rng.integers(1, 13)), replace=False)
        bases[where] = rng.choice(list("ACGT"), len(where))
        barcode = "".join(bases)
        if barcode not in seen:
            seen.add(barcode)
            rows.append({**template.to_dict(), "processid": f"GROWN{len(rows)}", "dna_barcode": barcode})
    return pd.concat([table, pd.DataFrame(rows)], ignore_index=True) if rows else table.iloc[:size]


def step(name: str, size: int, args: argparse.Namespace, work: Path) -> dict:
    """One measured step in this process (called in a child by `run_step`)."""
    from bioscan_hf.data.sources import Query
    from bioscan_hf.search.engine import Identifier
    from bioscan_hf.search.graph import build_graph
    from bioscan_hf.search.references import Reference

    reference = Reference(grown_library(size))
    sample = np.random.default_rng(1).choice(len(reference.barcodes), args.sample, replace=False)
    started = time.perf_counter()
    if name == "graph":
        from bioscan_hf.clusters.linkage import clusters_of

        graph = build_graph(reference, work / f"graph-{size}", num_proc=args.num_proc, progress=False)
        seconds = time.perf_counter() - started
        best = {int(k): _best_other(graph[int(k)], int(k)) for k in sample}
        started = time.perf_counter()  # BIN-like clusters from the graph (`bioscan-hf cluster` after it)
        keys, hits, identity = graph.pairs()
        clusters = clusters_of(keys, hits, 1.0 - identity, len(reference.barcodes))
        clustering = {"seconds": time.perf_counter() - started, "clusters": int(clusters.max()) + 1}
        return {"seconds": seconds, "best_other": best, "distinct": len(reference.barcodes), "clusters": clustering}
    engine = Identifier(reference, num_proc=args.num_proc)
    reference.seeds  # noqa: B018  (the index built before the clock: the graph's time includes its own)
    started = time.perf_counter()
    found = engine.hits([Query(str(k), sequence=reference.barcodes[k]) for k in sample])
    seconds = time.perf_counter() - started
    engine.close()
    best = {int(k): _best_other(found[reference.barcodes[k]], int(k)) for k in sample}
    return {"seconds_sample": seconds, "best_other": best, "distinct": len(reference.barcodes)}


def _best_other(hits, key: int) -> float | None:
    others = [h.score for h in hits if h.key != key]
    return max(others) if others else None


def run_step(name: str, size: int, args: argparse.Namespace, work: Path) -> dict:
    """`step` in a fresh process, with its peak resident memory."""
    out = work / f"{name}-{size}.json"
    command = ["/usr/bin/time", "-f", "%M", sys.executable, __file__, "--step", name, "--size", str(size)]
    command += ["--work", str(work), "--num-proc", str(args.num_proc), "--sample", str(args.sample)]
    done = subprocess.run([*command, "--step-out", str(out)], capture_output=True, text=True, check=True)
    result = json.loads(out.read_text())
    result["peak_gb"] = round(int(done.stderr.strip().splitlines()[-1]) / 1024**2, 2)  # the main process's
    return result


def linclust(size: int, work: Path, threads: int) -> dict | None:
    """`mmseqs easy-linclust` on the library's distinct barcodes (FASTA), wall time and peak memory."""
    if shutil.which("mmseqs") is None:
        return None
    from bioscan_hf.search.references import Reference

    reference = Reference(grown_library(size))
    fasta = work / f"lib-{size}.fasta"
    fasta.write_text("".join(f">k{k}\n{b}\n" for k, b in enumerate(reference.barcodes)))
    tmp = work / f"mmseqs-tmp-{size}"
    command = [
        "/usr/bin/time",
        "-f",
        "%e %M",
        "mmseqs",
        "easy-linclust",
        str(fasta),
        str(work / f"lc-{size}"),
        str(tmp),
    ]
    command += ["--min-seq-id", "0.9", "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    seconds, kb = done.stderr.strip().splitlines()[-1].split()
    shutil.rmtree(tmp, ignore_errors=True)
    return {"seconds": float(seconds), "peak_gb": round(int(kb) / 1024**2, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="25000,50000,100000,200000")
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--out", default=str(HERE / "graph.json"))
    parser.add_argument("--step")
    parser.add_argument("--size", type=int)
    parser.add_argument("--work")
    parser.add_argument("--step-out")
    args = parser.parse_args()
    if args.step:
        Path(args.step_out).write_text(json.dumps(step(args.step, args.size, args, Path(args.work))))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-graph-") as folder:
        work = Path(folder)
        for size in map(int, args.sizes.split(",")):
            graph = run_step("graph", size, args, work)
            exhaustive = run_step("exhaustive", size, args, work)
            truth, found = exhaustive["best_other"], graph["best_other"]
            recall = np.mean([truth[k] is None or (found[k] is not None and found[k] >= truth[k]) for k in truth])
            distinct = graph["distinct"]
            row = {
                "distinct": distinct,
                "graph_seconds": round(graph["seconds"], 1),
                "graph_ms_per_barcode": round(1000 * graph["seconds"] / distinct, 3),
                "graph_peak_gb": graph["peak_gb"],
                "exhaustive_ms_per_barcode": round(1000 * exhaustive["seconds_sample"] / args.sample, 3),
                "exhaustive_projected_seconds": round(exhaustive["seconds_sample"] / args.sample * distinct, 1),
                "recall_best_other": round(float(recall), 4),
                "linclust": linclust(size, work, args.num_proc),
                "clusters_seconds": round(graph["clusters"]["seconds"], 1),
                "clusters": graph["clusters"]["clusters"],
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    largest = rows[-1]
    full = 2_300_000
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {args.num_proc} processes",
        "sample": args.sample,
        "rows": rows,
        "projected_full_size_hours": round(largest["graph_ms_per_barcode"] / 1000 * full / 3600, 2),
        "projected_full_size_clusters_hours": round(largest["clusters_seconds"] / largest["distinct"] * full / 3600, 2),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
