"""Benchmark: BIOSCAN-5M at full size on one machine, one step at a time, each in a fresh process (wall
time and peak memory of that step alone).

The release is generated (synthetic, metadata only): 5,150,850 records with the real split sizes and
~2.3M distinct barcodes: each record carries one of `--haplotypes` variants (a template barcode of the
synthetic sample with 1–12 substitutions drawn from the variant's number), drawn uniformly, so repeated
barcodes share a lineage as in the release. Scores on it say nothing about a model; times and memory do.

Steps (`--steps`, in this order by default):
  generate   write the metadata CSV (not a user step; timed for the record)
  prepare    `prepare(release, out, configs=["metadata"])`
  load       `load_dataset(prepared, "metadata", split=s)` for every split, first open (fresh cache)
  reload     the same again, re-open (memory-mapped cache)
  stream     stream all of `pretrain` (`streaming=True`) in batches of 10,000, records/s; and the rate
             one record at a time over its first 100,000
  splits     `load_split` of `seen`, `unseen` and `all` with `reduce_repeated_barcodes` and
             `max_nucleotides=660` (bioscan-dataset's names and defaults)
  identify_build  the identify reference over every record (all splits): records read, distinct barcodes
             grouped, the seed index built once into the cache folder
  graph      a fresh process opens it and builds the neighbour graph's hits (`search_barcodes`, as
             `audit` and `cluster` search every barcode) of 10,000 of its distinct barcodes drawn at random,
             2 processes: the time per barcode, and the whole graph's projected from it
  audit      `audit(prepared, num_proc=2)` of every record with the packaged calibration (`--calibration`;
             fitting one on the release is not timed here): the neighbour graph of every distinct barcode
             built into the cache folder (or read from it where a run before built it), labels judged, BINs
             and barcodes checked, the suspects written
  cluster    `cluster(prepared, num_proc=2)`: every record into BIN-like clusters from the same graph
  identify   a fresh process opens it (memory-mapped) and identifies 10,000 queries (release barcodes
             with 1% substitutions), BOLD thresholds (no calibration fit), 2 processes (`--num-proc 2`);
             200 of them also with every seed counted (one process), to show what the per-query budget
             changes
  bioscan_dataset  the same three with bioscan-dataset 1.3.0's `load_bioscan5m_metadata` on the CSV (the
             reference: pandas)
  knn        kmer6 1-NN over distinct barcodes: train → test_unseen (SPEC §3), train → test,
             key_unseen → test_unseen (`knn_probe_ranks`, the path of `evaluate knn`)
  index      `build_index(prepared, "kmer4", splits=every split, approximate=True)`: the Space's index of
             all 5.15M barcodes (kmer4: the one encoder that embeds 5.15M barcodes on 2 cores in minutes)
  index_query  a fresh process opens it as the Space does (`Searcher`) and answers 200 single queries
             (release barcodes with 1% substitutions) by `search_dna`: p50/p95 per query, and recall@10 of
             the index's ids against exact search over the same vectors (ties counted: a found key whose
             exact similarity reaches the 10th best is a right one, as records sharing a barcode tie)

    python bench/bench_full_scale.py --workdir /tmp/full [--records 5150850] [--steps prepare,load]
    python bench/bench_full_scale.py --workdir /tmp/small --records 20000     # a smoke run (the suite's)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_metadata_reader import FULL_ROWS, SPLIT_SHARES, _schema, measurement_columns  # noqa: E402

HERE = Path(__file__).resolve().parent
STEPS = (
    *("generate", "prepare", "load", "reload", "stream", "splits", "bioscan_dataset", "knn", "identify_build"),
    *("graph", "audit", "cluster", "identify", "index", "index_query"),
)
#: Variants drawn for 5.15M records: ~2.3M of them are drawn at least once (1 − e^(−5.15/2.6) of 2.6M).
FULL_HAPLOTYPES = 2_600_000
_TEMPLATES = 4000
_MAX_SUBSTITUTIONS = 12
_CHUNK = 250_000
_ONE_BY_ONE = 100_000
_QUERIES = 10_000
#: Single queries timed against the Space's index.
_INDEX_QUERIES = 200
#: Distinct barcodes whose neighbour-graph hits are timed (`graph`).
_GRAPH_SAMPLE = 10_000
#: Queries also identified with every seed counted (no budget), to see what the budget changes.
_UNBOUNDED_QUERIES = 200


def _template_table(seed: int) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Template records of the synthetic sample, their barcodes as a padded byte matrix and lengths."""
    from bioscan_hf.data.sample import generate_records

    template, _, _ = generate_records(_TEMPLATES, seed=seed)
    lengths = np.array([len(r["dna_barcode"]) for r in template])
    matrix = np.zeros((len(template), lengths.max()), dtype=np.uint8)
    for i, record in enumerate(template):
        matrix[i, : lengths[i]] = np.frombuffer(record["dna_barcode"].encode(), dtype=np.uint8)
    return template, matrix, lengths


def variant_barcodes(haplotypes: np.ndarray, matrix: np.ndarray, lengths: np.ndarray) -> pa.StringArray:
    """The barcode of each haplotype: its template's, with 1–12 substitutions placed by its number."""
    templates = haplotypes % len(matrix)
    out = matrix[templates]
    n_subs = 1 + (haplotypes // len(matrix)) % _MAX_SUBSTITUTIONS
    rows = np.arange(len(haplotypes))
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    for j in range(_MAX_SUBSTITUTIONS):
        active = n_subs > j
        mix = haplotypes[active] * 2_654_435_761 + j * 40_503
        position = mix % lengths[templates[active]]
        out[rows[active], position] = letters[(mix // 7919) % 4]
    keep = np.arange(out.shape[1]) < lengths[templates][:, None]
    offsets = np.concatenate([[0], np.cumsum(lengths[templates])]).astype(np.int32)
    return pa.StringArray.from_buffers(len(haplotypes), pa.py_buffer(offsets), pa.py_buffer(out[keep].tobytes()))


def generate_release(folder: Path, records: int, haplotypes: int, seed: int = 0) -> dict:
    """Write `folder/BIOSCAN_5M_Insect_Dataset_metadata.csv`; returns what was drawn."""
    import pyarrow.csv as pacsv

    template, matrix, lengths = _template_table(seed)
    rng = np.random.default_rng(seed)
    shares = {s: round(n * records / FULL_ROWS) for s, n in SPLIT_SHARES.items()}
    shares["pretrain"] += records - sum(shares.values())
    splits = np.repeat(list(shares), list(shares.values()))[rng.permutation(records)]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "BIOSCAN_5M_Insect_Dataset_metadata.csv"
    drawn = []

    def column(name: str, idx: np.ndarray) -> list:
        return [template[i][name] for i in idx]

    with pacsv.CSVWriter(path.with_suffix(".tmp"), _schema()) as writer:
        for start in range(0, records, _CHUNK):
            n = min(_CHUNK, records - start)
            hap = rng.integers(0, haplotypes, n)
            drawn.append(hap)
            idx = hap % len(template)
            part = splits[start : start + n]
            labelled = part != "pretrain"
            table = {
                "processid": [f"BSC{start + i:08d}-23" for i in range(n)],
                "sampleid": [f"BIOUG{start + i:08d}-A01" for i in range(n)],
                "taxon": column("taxon", idx),
                "phylum": ["Arthropoda"] * n,
                "class": ["Insecta"] * n,
                **{rank: column(rank, idx) for rank in ("order", "family", "subfamily", "genus")},
                "species": [s if keep else None for s, keep in zip(column("species", idx), labelled)],
                "dna_bin": column("dna_bin", idx),
                "dna_barcode": variant_barcodes(hap, matrix, lengths),
                "country": column("country", idx),
                "province_state": column("province_state", idx),
                **measurement_columns(rng, n),
                "split": part,
                "index_bioscan_1M_insect": [None] * n,
                "chunk": [f"{v:02x}" for v in rng.integers(0, 256, n)],
            }
            writer.write_table(pa.table(table, schema=_schema()))
    path.with_suffix(".tmp").replace(path)
    return {"records": records, "distinct_haplotypes": int(len(np.unique(np.concatenate(drawn))))}


def _peak_rss_mb() -> float:
    """Peak resident memory of this process and of the children it waited for (forked workers)."""
    own = next(
        int(line.split()[1]) / 1024 for line in Path("/proc/self/status").read_text().splitlines() if "VmHWM" in line
    )
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


class AnonymousPeak:
    """Peak anonymous memory (RssAnon) of this process, sampled every 20 ms: RSS also counts the pages of
    memory-mapped files (Arrow caches, the seed index) the kernel can drop at will; this is the rest."""

    def __init__(self) -> None:
        import threading

        self.peak_kb, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        status = Path("/proc/self/status")
        while not self._stop.is_set():
            line = next(x for x in status.read_text().splitlines() if x.startswith("RssAnon"))
            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            self._stop.wait(0.02)

    def stop(self) -> float:
        """Stop sampling; the peak in MB."""
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024


def run_step(step: str, work: Path, records: int, haplotypes: int, plate: int = _QUERIES) -> dict:
    """One step in this process; returns its measurements."""
    anonymous = AnonymousPeak()
    import datasets

    from bioscan_hf.data.schema import SPLITS

    release, prepared = work / "release", work / "prepared"
    start = time.perf_counter()
    result: dict = {}
    if step == "generate":
        result = generate_release(release, records, haplotypes)
    elif step == "prepare":
        from bioscan_hf.data.publish import prepare

        prepare(release, prepared, configs=["metadata"], overwrite=True)
    elif step in ("load", "reload"):
        result["per_split_s"] = {}
        for split in SPLITS:
            begun = time.perf_counter()
            rows = datasets.load_dataset(str(prepared), "metadata", split=split).num_rows
            result["per_split_s"][split] = [rows, round(time.perf_counter() - begun, 2)]
    elif step == "stream":
        stream = datasets.load_dataset(str(prepared), "metadata", split="pretrain", streaming=True)
        result["records"] = sum(len(batch["processid"]) for batch in stream.iter(batch_size=10_000))
        result["batched_records_per_s"] = result["records"] / (time.perf_counter() - start)
        begun, one_by_one = time.perf_counter(), 0
        for one_by_one, _ in enumerate(stream, 1):  # a record at a time, as a training loop reads
            if one_by_one == _ONE_BY_ONE:
                break
        result["records_per_s_one_at_a_time"] = one_by_one / (time.perf_counter() - begun)
    elif step == "splits":
        from bioscan_hf.data.selection import load_split

        result["rows"] = {}
        for split in ("seen", "unseen", "all"):
            begun = time.perf_counter()
            rows = load_split(  # bioscan-dataset's defaults: barcodes cut at 660 before they are compared
                prepared, "metadata", split=split, max_nucleotides=660, reduce_repeated_barcodes=True
            ).num_rows
            result["rows"][split] = [rows, round(time.perf_counter() - begun, 2)]
    elif step == "bioscan_dataset":  # the reference for `splits`: what bioscan-dataset users run today
        from bioscan_dataset import load_bioscan5m_metadata

        result["rows"] = {}
        for split in ("seen", "unseen", "all"):
            begun = time.perf_counter()
            frame = load_bioscan5m_metadata(
                release / "BIOSCAN_5M_Insect_Dataset_metadata.csv", split=split, reduce_repeated_barcodes=True
            )
            result["rows"][split] = [len(frame), round(time.perf_counter() - begun, 2)]
            del frame
    elif step == "knn":
        result = knn_step(prepared)
    elif step == "index":
        from bioscan_hf.search.index import build_index

        build_index(prepared, "kmer4", work / "space_index", splits=SPLITS, approximate=True, overwrite=True)
        result["gb_on_disk"] = round(sum(f.stat().st_size for f in (work / "space_index").iterdir()) / 1e9, 2)
    elif step == "index_query":
        result = index_query_step(prepared, work / "space_index")
    elif step == "graph":
        result = graph_step(work)
    elif step in ("audit", "cluster"):
        result = whole_release_step(step, work)
    elif step in ("identify_build", "identify"):
        result = identify_step(prepared, work, queries=0 if step == "identify_build" else plate)
    else:
        raise ValueError(f"unknown step {step}")
    result["seconds"] = time.perf_counter() - start
    result["peak_rss_mb"] = _peak_rss_mb()
    result["peak_anonymous_mb"] = anonymous.stop()
    return result


def knn_step(prepared: Path) -> dict:
    """kmer6 1-NN (order, family, genus) for the three key → query pairs, one pair at a time: distinct
    barcodes embedded once, one search per distinct query (`knn_probe_ranks`, the path of `evaluate knn`)."""
    from bioscan_hf.data.selection import load_split
    from bioscan_hf.embedding import load_encoder
    from bioscan_hf.evaluation.nearest import knn_probe_ranks

    encoder = load_encoder("kmer6")
    ranks = ("order", "family", "genus")

    def side(split: str) -> tuple[np.ndarray, dict, list[str]]:
        table = load_split(prepared, "metadata", split=split).select_columns(["dna_barcode", *ranks])
        barcodes = table["dna_barcode"][:]
        unique, inverse = np.unique(np.asarray(barcodes, dtype=object), return_inverse=True)
        vectors = encoder.embed_dna(list(unique), progress=False)[inverse]  # one row per record, as evaluate
        return vectors, {r: table[r][:] for r in ranks}, barcodes

    result = {}
    for keys, queries in (("train", "test_unseen"), ("train", "test"), ("key_unseen", "test_unseen")):
        begun = time.perf_counter()
        (kv, kl, kid), (qv, ql, qid) = side(keys), side(queries)
        scores = knn_probe_ranks(kv, kl, qv, ql, kid, qid, missing=-1)
        result[f"{keys}->{queries}"] = {
            "seconds": round(time.perf_counter() - begun, 2),
            "keys": len(kid),
            "queries": len(qid),
            **{f"{r}_micro": round(scores[r]["micro"], 4) for r in ranks},
        }
        del kv, qv
    return result


def mutated(barcodes: list[str], rate: float, seed: int = 0) -> list[str]:
    """`barcodes` with a share `rate` of their bases substituted (a new specimen of a known haplotype)."""
    rng = np.random.default_rng(seed)
    out = []
    for barcode in barcodes:
        bases = np.frombuffer(barcode.encode(), dtype="S1").copy()
        changed = rng.random(len(bases)) < rate
        bases[changed] = rng.choice(np.array([b"A", b"C", b"G", b"T"]), int(changed.sum()))
        out.append(bases.tobytes().decode())
    return out


def index_query_step(prepared: Path, folder: Path) -> dict:
    """Open the Space's index as the Space does; single-query latency and recall@10 against exact search."""
    import datasets
    import faiss

    from bioscan_hf.core.vectors import normalize
    from bioscan_hf.data.prepared import load_prepared
    from bioscan_hf.data.schema import SPLITS
    from bioscan_hf.data.selection import distinct_and_codes
    from bioscan_hf.embedding import load_encoder
    from bioscan_hf.search.searcher import Searcher

    begun = time.perf_counter()
    searcher = Searcher(folder)
    result = {"open_s": round(time.perf_counter() - begun, 1), "nprobe": searcher.info.get("nprobe")}
    index = searcher.indexes["dna"]
    result.update(keys=index.ntotal, index=type(faiss.extract_index_ivf(index)).__name__)
    rng = np.random.default_rng(1)
    picked = rng.choice(index.ntotal, _INDEX_QUERIES, replace=False)
    queries = mutated([searcher.keys["dna_barcode"].iat[int(i)] for i in picked], 0.01)
    times, found = [], []
    for query in queries:
        tick = time.perf_counter()
        shown = searcher.search_dna(query, k=10).neighbours
        times.append((time.perf_counter() - tick) * 1000)
        found.append(shown["processid"].tolist())
    result.update(p50_ms=round(float(np.median(times)), 1), p95_ms=round(float(np.percentile(times, 95)), 1))
    result["peak_rss_mb_searcher"] = _peak_rss_mb()
    del searcher
    # exact similarities over the same vectors, one row per distinct barcode (records sharing one tie)
    table = datasets.concatenate_datasets([load_prepared(prepared, "metadata")[split] for split in SPLITS])
    distinct, record_barcode = distinct_and_codes(table.with_format("arrow")["dna_barcode"])  # build_index's order
    encoder = load_encoder("kmer4")
    scores = normalize(encoder.embed_dna(queries, progress=False)) @ normalize(encoder.embed_dna(distinct)).T
    row_of = {pid: row for row, pid in enumerate(table["processid"][:])}
    hits = 0
    for q, names in enumerate(found):
        per_record = scores[q][record_barcode]
        tenth = np.partition(per_record, len(per_record) - 10)[len(per_record) - 10]
        rows = np.array([row_of[name] for name in names])
        hits += min(10, int((per_record[rows] >= tenth - 1e-6).sum()))
    result["recall_at_10"] = round(hits / (10 * len(found)), 4)
    return result


def graph_step(work: Path) -> dict:
    """The neighbour graph's hits of `_GRAPH_SAMPLE` distinct barcodes of the whole release, against all of
    them (the seed index `identify_build` left in the cache), in 2 processes; projected to every barcode."""
    os.environ["BIOSCAN_HF_CACHE"] = str(work / "bioscan_cache")
    from bioscan_hf.search.graph import search_barcodes
    from bioscan_hf.search.references import Reference, read_references
    from bioscan_hf.search.settings import DEFAULT_CANDIDATES

    reference = Reference(read_references(work / "prepared", splits=None))
    reference.seeds  # noqa: B018  (opened from the cache before the clock)
    sample = min(_GRAPH_SAMPLE, len(reference.barcodes))
    keys = np.random.default_rng(0).choice(len(reference.barcodes), sample, replace=False).tolist()
    begun = time.perf_counter()
    graph = search_barcodes(reference, keys, DEFAULT_CANDIDATES + 1, num_proc=2, progress=False)  # as audit
    seconds = time.perf_counter() - begun
    hits = [len(graph[k]) for k in keys]
    return {
        "distinct": len(reference.barcodes),
        "sample": len(keys),
        "sample_s": round(seconds, 1),
        "ms_per_barcode": round(1000 * seconds / len(keys), 3),
        "projected_graph_h": round(seconds / len(keys) * len(reference.barcodes) / 3600, 2),
        "median_hits_kept": float(np.median(hits)),
    }


def whole_release_step(step: str, work: Path) -> dict:
    """`audit` or `cluster` of every record of the release, as its command runs (2 processes); whether the
    neighbour graph was in the cache folder before (then its build is not in the time)."""
    os.environ["BIOSCAN_HF_CACHE"] = str(work / "bioscan_cache")
    graphs = work / "bioscan_cache" / "graphs"
    result = {"graph_cached": graphs.is_dir() and any(graphs.glob("*/graph.json"))}
    out = work / step
    out.mkdir(exist_ok=True)
    if step == "audit":
        from bioscan_hf.audit import audit
        from bioscan_hf.search.calibration import DEFAULT_FILE

        run = audit(work / "prepared", out / "suspects.tsv", num_proc=2, calibration=str(DEFAULT_FILE), overwrite=True)
        result.update(
            records=run.summary["records"], suspects=len(run.suspects), by_category=run.summary["by_category"]
        )
    else:
        from bioscan_hf.clusters import cluster

        run = cluster(work / "prepared", out / "clusters.parquet", num_proc=2, overwrite=True)
        result.update(records=run.summary["records"], clusters=run.summary["clusters"], bins=run.summary["bins"])
    return result


def identify_step(prepared: Path, work: Path, queries: int) -> dict:
    """The identify reference over the whole release (and, with `queries`, a plate against it)."""
    os.environ["BIOSCAN_HF_CACHE"] = str(work / "bioscan_cache")
    from bioscan_hf.data.sources import Query
    from bioscan_hf.search.engine import Identifier
    from bioscan_hf.search.references import Reference, read_references
    from bioscan_hf.search.settings import DEFAULT_THRESHOLDS

    begun = time.perf_counter()
    reference = Reference(read_references(prepared, splits=None))
    result = {"records": len(reference.table), "distinct": len(reference.barcodes)}
    result["read_s"] = round(time.perf_counter() - begun, 1)
    begun = time.perf_counter()
    seeds = reference.seeds
    result.update(seeds_s=round(time.perf_counter() - begun, 1), seeds_gb=round(seeds.nbytes / 1e9, 2))
    if not queries:
        return result
    rows = np.random.default_rng(0).choice(len(reference.table), queries, replace=False)
    barcodes = mutated([reference.table["dna_barcode"].iat[int(row)] for row in rows], 0.01)
    plate = [Query(f"q{n}", sequence=barcode) for n, barcode in enumerate(barcodes)]
    identifier = Identifier(reference, thresholds=DEFAULT_THRESHOLDS, num_proc=2)  # as `--num-proc 2`
    begun = time.perf_counter()
    rows, _ = identifier.identify(plate)
    seconds = time.perf_counter() - begun
    identifier.close()
    result.update(queries=queries, query_s=round(seconds, 1), queries_per_s=round(queries / seconds, 1))
    result["peak_rss_mb_after_queries"] = _peak_rss_mb()
    few = plate[:_UNBOUNDED_QUERIES]
    seeds.budget = np.iinfo(np.int64).max  # every seed counted (one process: the workers read the budget forked)
    begun = time.perf_counter()
    unbounded, _ = Identifier(reference, thresholds=DEFAULT_THRESHOLDS).identify(few)
    result["unbounded_s_per_query"] = round((time.perf_counter() - begun) / len(few), 3)
    same = [a["best_hit"] == b["best_hit"] or a.get("pident") == b.get("pident") for a, b in zip(rows, unbounded)]
    result["unbounded_same_best"] = f"{sum(same)}/{len(few)}"
    return result


def describe_machine() -> dict:
    """The machine, for the record."""
    import psutil

    return {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--records", type=int, default=FULL_ROWS)
    parser.add_argument("--haplotypes", type=int, default=None, help="default: scaled from 2.6M at 5.15M")
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--queries", type=int, default=_QUERIES, help="identify: queries in the plate")
    parser.add_argument("--out", type=Path, default=None, help="JSON of the results (default WORKDIR/full_scale.json)")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # one step, in this (child) process
    args = parser.parse_args()
    haplotypes = args.haplotypes or max(1, round(FULL_HAPLOTYPES * args.records / FULL_ROWS))
    if args.run:
        print(json.dumps(run_step(args.run, args.workdir, args.records, haplotypes, args.queries)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    # the steps' own Arrow cache (set before a child imports datasets, which reads it once): `load` is a first open
    os.environ["HF_DATASETS_CACHE"] = str(args.workdir / "hf_cache")
    out = args.out or args.workdir / "full_scale.json"
    results = json.loads(out.read_text()) if out.exists() else {"machine": describe_machine(), "steps": {}}
    for step in args.steps.split(","):
        command = [sys.executable, __file__, "--workdir", str(args.workdir), "--records", str(args.records)]
        command += ["--queries", str(args.queries)]
        done = subprocess.run(
            [*command, "--haplotypes", str(haplotypes), "--run", step], capture_output=True, text=True, check=False
        )
        if done.returncode:
            raise SystemExit(f"step {step} failed:\n{done.stderr[-4000:]}")
        results["steps"][step] = json.loads(done.stdout.strip().splitlines()[-1])
        results["records"] = args.records
        print(step, json.dumps(results["steps"][step]), flush=True)
        out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
