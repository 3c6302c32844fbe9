"""Recall of the exhaustive best score: how often `identify`'s top hit scores as well as the best of aligning
the query with every distinct reference barcode, on real BOLD barcodes (../shared/data) and on a generated
flood case.

Two libraries built from the real file, each with 2,000 queries (fewer where the partition has fewer):

- `species`: `bench_identify.species_partition` (in every genus with two or more species a quarter of the
  species leave the reference; queries are their records: species absent, genus present);
- `genera`: in every family with two or more genera a quarter of the genera leave the reference; queries are
  their records (genus absent, family present: farther from the library, where seed counts mislead most).

The flood case (`tests/helpers.flood_case`): a lone reference of one genus at 95.6% identity to the query,
its differences on first and second codon positions spread along it, beside a genus of 200 near-identical
references at 93.9–94.2% whose differences fall on third positions (synonymous changes), as heavily sampled
species are in BOLD; the flood shares more seeds with the query than the lone reference does, which is the
best hit and must be found.

The exhaustive check aligns every distinct reference with edlib, bounded so that only a reference scoring
above our top hit is reported (a miss). Printed and written to bench/shortlist.json:

    python bench/bench_shortlist.py [--queries 2000] [--out bench/shortlist.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
from bench_identify import BOLD, bold_table, species_partition  # noqa: E402
from helpers import flood_case  # noqa: E402  (the tests' generator: one home for the case)

from bioscan_hf.data.sources import Query  # noqa: E402
from bioscan_hf.search.align import align  # noqa: E402
from bioscan_hf.search.engine import Identifier  # noqa: E402
from bioscan_hf.search.references import Reference  # noqa: E402
from bioscan_hf.search.settings import DEFAULT_CANDIDATES  # noqa: E402

_BARCODES: list[str] = []


def genera_partition(table: pd.DataFrame, queries: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """keys / unseen: a quarter of the genera of every family with two or more leave the reference."""
    rng = np.random.default_rng(seed)
    held = set()
    for _, genera in sorted(table.groupby("family")["genus"].unique().items()):
        genera = sorted(g for g in genera if g)
        if len(genera) >= 2:
            held.update(rng.choice(genera, max(1, min(len(genera) - 1, round(len(genera) / 4))), replace=False))
    unseen = table["genus"].isin(held).to_numpy()
    return {"keys": table[~unseen], "unseen": table[unseen].sample(min(queries, int(unseen.sum())), random_state=seed)}


def _beaten(task: tuple[str, int]) -> bool:
    """Whether any distinct reference scores above `score` against `query` (either strand)."""
    query, score = task
    return any(align(query, b, strand, score + 1) is not None for b in _BARCODES for strand in "+-")


def recall(keys: pd.DataFrame, queries: pd.DataFrame, candidates: int, processes: int = 2) -> dict:
    """Share of queries whose top hit (engine with `candidates`) reaches the exhaustive best score."""
    global _BARCODES
    reference = Reference(keys.reset_index(drop=True))
    engine = Identifier(reference, candidates=candidates, num_proc=processes)
    sequences = list(dict.fromkeys(queries["dna_barcode"]))
    start = time.perf_counter()
    hits = engine.seed_hits(sequences)
    engine.close()
    seconds = time.perf_counter() - start
    _BARCODES = reference.barcodes
    tops = [(s, found[0][1].score if found else -(10**9)) for s, found in zip(sequences, hits)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        beaten = pool.map(_beaten, tops, chunksize=8)
    return {
        "candidates": candidates,
        "queries": len(sequences),
        "distinct_references": len(reference.barcodes),
        "recall_of_best_score": round(1 - float(np.mean(beaten)), 4),
        "missed": int(np.sum(beaten)),
        "ms_per_query_shortlist_and_alignment": round(1000 * seconds / len(sequences), 2),
    }


def flood_found(seeds: int = 20) -> dict:
    """In how many of `seeds` generated flood cases the lone best reference is the top hit."""
    found, identities = 0, []
    for seed in range(seeds):
        table, query, best = flood_case(seed)
        _, hits = Identifier(Reference(table)).identify([Query("q", sequence=query)], top_k=1)
        found += hits[0]["sseqid"] == best
        identities.append(hits[0]["pident"])
    return {"cases": seeds, "lone_best_found": found, "top_hit_pident_median": float(np.median(identities))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=2000, help="queries per library (default 2000)")
    parser.add_argument("--out", default=str(HERE / "shortlist.json"))
    args = parser.parse_args()
    if not BOLD.exists():
        sys.exit(f"needs the real BOLD file at {BOLD}")
    table = bold_table()
    results: dict = {"machine": f"{platform.machine()}, {multiprocessing.cpu_count()} cores", "libraries": {}}
    results["flood"] = flood_found()
    print("flood", results["flood"], flush=True)
    partitions = {"species": species_partition(table, args.queries, 0), "genera": genera_partition(table, args.queries)}
    for name, parts in partitions.items():
        results["libraries"][name] = [
            recall(parts["keys"], parts["unseen"], candidates) for candidates in (50, DEFAULT_CANDIDATES)
        ]
        print(name, results["libraries"][name], flush=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
