"""`bioscan-hf identify` against blastn and VSEARCH on the real BOLD file (../shared/data), in one run;
then the seed index at 100k and 1M references.

The file is imported with BIOSCAN-style partitions (`import-bold`, seed 0). Keys: `train`; queries:
`test_unseen` (species absent from the keys: genus 1-NN accuracy, micro and macro) and `test` (species
present: species 1-NN accuracy). Each tool reports its top hit per query: ours (`bioscan-hf identify`
on the prepared splits), blastn 2.12 (megablast, `-max_target_seqs 10 -num_threads 2`, first hit) on FASTA
of the same records and `vsearch --usearch_global --id 0.5 --maxaccepts 1 --maxrejects 32 --threads 2`. Wall
time and peak memory of each tool's process are measured here. Ours also reports per-rank coverage,
accuracy of calls and reliability (confidence bins) on both query splits.

Scale: synthetic references made by mutating real barcodes (0–12% substitutions), 100k and 1M distinct
barcodes; index build time and memory, and query time for 1,000 real queries.

    python bench/bench_identify.py [--skip-scale | --only-scale] [--out bench/identify.json]

Needs Debian's ncbi-blast+, vsearch and time: installed here when run as root with apt, else the command is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_knn_dedup import prepared_bold  # noqa: E402


def timed(command: list[str]) -> tuple[float, float]:
    """Run a command; its wall seconds and peak resident memory (MB, GNU time's %M of that process)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *command],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - start
        return wall, int(rss.read().split()[-1]) / 1024


def write_fasta(split, path: Path) -> None:
    with open(path, "w") as handle:
        for pid, barcode in zip(split["processid"][:], split["dna_barcode"][:]):
            handle.write(f">{pid}\n{barcode}\n")


def accuracy(top_hit: pd.Series, queries: pd.DataFrame, keys: pd.DataFrame, rank: str) -> dict:
    """1-NN accuracy at `rank`: micro and macro over the queries labelled there (no hit = wrong)."""
    predicted = top_hit.reindex(queries.index).map(keys[rank])
    labelled = queries[rank].notna()
    right = (predicted == queries[rank])[labelled]
    return {
        "micro": round(100 * right.mean(), 2),
        "macro": round(100 * right.groupby(queries[rank][labelled]).mean().mean(), 2),
        "no_hit": int(predicted[labelled].isna().sum()),
    }


def first_hits(path: Path) -> pd.Series:
    hits = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1], dtype=str)
    return hits.drop_duplicates(0).set_index(0)[1]


def peers(workdir: Path) -> dict:
    from bioscan_hf.data.prepared import load_prepared, rank_values
    from bioscan_hf.search.report import summarize

    data = load_prepared(prepared_bold(workdir), "metadata")
    frames = {}
    for split in ("train", "test", "test_unseen"):
        write_fasta(data[split], workdir / f"{split}.fasta")
        table = {"processid": data[split]["processid"][:]}
        for rank in ("genus", "species"):
            table[rank] = rank_values(data[split], rank)
        frames[split] = pd.DataFrame(table).set_index("processid")
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        ["makeblastdb", "-in", str(workdir / "train.fasta"), "-dbtype", "nucl", "-out", str(workdir / "train")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    results = {}
    for split, rank in (("test_unseen", "genus"), ("test", "species")):
        queries = workdir / f"{split}.fasta"
        runs = {
            "bioscan-hf identify": [
                str(bin_dir / "bioscan-hf"),
                "identify",
                str(workdir / "dataset"),
                "--split",
                split,
                "--reference",
                str(workdir / "dataset"),
                "--reference-splits",
                "train",
                "--out",
                str(workdir / f"{split}.ours.tsv"),
            ],
            "blastn": [
                "blastn",
                "-query",
                str(queries),
                "-db",
                str(workdir / "train"),
                "-outfmt",
                "6 qseqid sseqid pident",
                "-max_target_seqs",
                "10",
                "-num_threads",
                "2",
                "-out",
                str(workdir / f"{split}.blast.tsv"),
            ],
            "vsearch": [
                "vsearch",
                "--usearch_global",
                str(queries),
                "--db",
                str(workdir / "train.fasta"),
                "--id",
                "0.5",
                "--maxaccepts",
                "1",
                "--maxrejects",
                "32",
                "--threads",
                "2",
                "--blast6out",
                str(workdir / f"{split}.vsearch.tsv"),
            ],
        }
        results[split] = {}
        for tool, command in runs.items():
            wall, peak = timed(command)
            if tool == "bioscan-hf identify":
                ours = pd.read_csv(workdir / f"{split}.ours.tsv", sep="\t", dtype={"best_hit": str})
                top = ours.set_index("query")["best_hit"]
                results[split]["calibration"] = summarize(ours)
            else:
                top = first_hits(workdir / f"{split}.{'blast' if tool == 'blastn' else 'vsearch'}.tsv")
            results[split][tool] = {
                "seconds": round(wall, 1),
                "peak_mb": round(peak),
                rank: accuracy(top, frames[split], frames["train"], rank),
            }
            print(split, tool, results[split][tool], flush=True)
    return results


def scale(workdir: Path) -> list[dict]:
    """Seed index build and query cost at 100k and 1M synthetic distinct references."""
    import psutil

    from bioscan_hf.data.prepared import load_prepared
    from bioscan_hf.data.sources import Query
    from bioscan_hf.search.engine import Identifier, Reference
    from bioscan_hf.search.seeds import SeedIndex, projected_bytes

    data = load_prepared(workdir / "dataset", "metadata")
    real = sorted(set(data["train"]["dna_barcode"][:]))
    queries = list(data["test"]["dna_barcode"][:1000])
    rng = np.random.default_rng(0)
    rows = []
    for size in (100_000, 1_000_000):
        bases = np.frombuffer("".join(real).encode(), dtype=np.uint8)
        lengths = np.array([len(b) for b in real])
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        refs = []
        for i in range(size):
            j = i % len(real)
            seq = bases[offsets[j] : offsets[j + 1]].copy()
            n = int(rng.integers(0, int(0.12 * len(seq)) + 1))
            where = rng.integers(0, len(seq), n)
            seq[where] = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, n)]
            refs.append(seq.tobytes().decode())
        refs = list(dict.fromkeys(refs))  # distinct, as the engine indexes them
        process = psutil.Process()
        before = process.memory_info().rss
        start = time.perf_counter()
        index = SeedIndex(refs, progress=True)
        build = time.perf_counter() - start
        held = index.nbytes
        start = time.perf_counter()
        index.shortlist(queries, 50)
        query = time.perf_counter() - start
        # the whole engine (shortlist, alignment of 50 candidates, calls) on the same references
        table = pd.DataFrame({"processid": [f"R{i}" for i in range(len(refs))], "dna_barcode": refs})
        for column in ("order", "family", "subfamily", "genus", "species", "dna_bin", "country"):
            table[column] = None
        reference = Reference(table)
        reference._seeds = index  # the index measured above
        start = time.perf_counter()
        Identifier(reference).identify([Query(f"Q{i}", sequence=q) for i, q in enumerate(queries)])
        identify = time.perf_counter() - start
        rows.append(
            {
                "references": len(refs),
                "build_s": round(build, 1),
                "index_gb": round(held / 1e9, 2),
                "rss_growth_gb": round((process.memory_info().rss - before) / 1e9, 2),
                "shortlist_ms_per_query": round(1000 * query / len(queries), 2),
                "identify_ms_per_query": round(1000 * identify / len(queries), 2),
                "peak_rss_gb": round(process.memory_info().rss / 1e9, 2),
                "projected_gb_at_2.3M": round(projected_bytes(2_300_000) / 1e9, 1),
            }
        )
        print(rows[-1], flush=True)
        del index, refs, table, reference
    return rows


PEER_PACKAGES = ("ncbi-blast+", "vsearch", "time")


def install_peers() -> None:
    """Install the peers from Debian where this machine can (root with apt); else stop with the command."""
    tools = ("blastn", "makeblastdb", "vsearch", "/usr/bin/time")
    if all(shutil.which(tool) for tool in tools):
        return
    command = ["apt-get", "install", "-y", "-q", *PEER_PACKAGES]
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        )
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        raise SystemExit(f"{', '.join(missing)} not found: {' '.join(command)} (as root)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--only-scale", action="store_true", help="only the 100k / 1M reference part")
    parser.add_argument("--out", default=str(HERE / "identify.json"))
    args = parser.parse_args()
    install_peers()
    workdir = Path(os.environ.get("BENCH_WORKDIR") or tempfile.mkdtemp(prefix="bench-identify-"))
    prepared_bold(workdir)
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "blastn": subprocess.run(["blastn", "-version"], capture_output=True, text=True).stdout.splitlines()[0],
        "vsearch": subprocess.run(["vsearch", "--version"], capture_output=True, text=True).stderr.splitlines()[0],
    }
    if not args.only_scale:
        report["peers"] = peers(workdir)
    if not args.skip_scale:
        report["scale"] = scale(workdir)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
