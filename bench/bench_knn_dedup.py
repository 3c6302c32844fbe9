"""1-NN over distinct barcodes on the real BOLD file (../shared/data), against searching every record and
against scikit-learn, in one run.

The file is imported with BIOSCAN-style partitions (`import-bold`, seed 0) and prepared; keys = `train`,
queries = `test_unseen` (and, second, queries = `test`, closed world). Embeddings: a fixed random 768-d
projection of each barcode's 4-mer profile, so equal barcodes get equal vectors as with any encoder
(the search cost does not depend on what the vectors mean). Three ways, predictions compared per rank:

- distinct, one search: `knn_probe_ranks(..., key_ids=barcodes, query_ids=barcodes)` (what `evaluate knn`
  runs): each distinct query barcode searched once among the distinct key barcodes for all four ranks
  (FAISS exact), predictions expanded back to the records;
- all records: `knn_probe` per rank over every labelled record (FAISS exact);
- scikit-learn: `KNeighborsClassifier(n_neighbors=1, metric="cosine")` per rank over every labelled record.

Medians of `--repeats` timings per way; the ratio is taken in this run.

    python bench/bench_knn_dedup.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BOLD = HERE.parents[1] / "shared" / "data" / "bold" / "insects_dev.tsv.gz"
RANKS = ("order", "family", "genus", "species")


def prepared_bold(workdir: Path) -> Path:
    """The real BOLD file imported (seed 0) and prepared (metadata config)."""
    from bioscan_hf.data.bold import import_bold
    from bioscan_hf.data.publish import prepare

    if not (workdir / "dataset" / "README.md").is_file():
        import_bold([BOLD], workdir / "release", unlabelled_fraction=0.3, seed=0)
        prepare(workdir / "release", workdir / "dataset", configs=["metadata"])
    return workdir / "dataset"


def barcode_vectors(barcodes: list[str], dim: int = 768) -> np.ndarray:
    """A fixed random projection of 4-mer profiles: equal barcodes → equal vectors."""
    from bioscan_hf.embedding.kmer import kmer_profiles

    projection = np.random.default_rng(0).normal(size=(256, dim)).astype(np.float32)
    return kmer_profiles(barcodes, 4) @ projection


def median_seconds(run, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def compare(data, key_split: str, query_split: str, repeats: int) -> dict:
    from sklearn.neighbors import KNeighborsClassifier

    from bioscan_hf.data.prepared import rank_values
    from bioscan_hf.evaluation.nearest import knn_probe, knn_probe_ranks

    keys, queries = data[key_split], data[query_split]
    key_barcodes, query_barcodes = keys["dna_barcode"][:], queries["dna_barcode"][:]
    key_vectors, query_vectors = barcode_vectors(key_barcodes), barcode_vectors(query_barcodes)
    key_labels = {rank: np.array(rank_values(keys, rank), dtype=object) for rank in RANKS}
    query_labels = {rank: np.array(rank_values(queries, rank), dtype=object) for rank in RANKS}
    ranks = [r for r in RANKS if (query_labels[r] != None).any()]  # noqa: E711 (elementwise)

    def distinct():
        return knn_probe_ranks(
            key_vectors,
            {r: key_labels[r] for r in ranks},
            query_vectors,
            {r: query_labels[r] for r in ranks},
            key_ids=key_barcodes,
            query_ids=query_barcodes,
        )

    def all_records():
        return {r: knn_probe(key_vectors, key_labels[r], query_vectors, query_labels[r]) for r in ranks}

    def with_sklearn():
        predictions = {}
        for rank in ranks:
            lk, lq = key_labels[rank] != None, query_labels[rank] != None  # noqa: E711
            classifier = KNeighborsClassifier(n_neighbors=1, metric="cosine", algorithm="brute")
            classifier.fit(key_vectors[lk], key_labels[rank][lk].astype(str))
            predictions[rank] = classifier.predict(query_vectors[lq])
        return predictions

    distinct_s, ours = median_seconds(distinct, repeats)
    full_s, full = median_seconds(all_records, repeats)
    sklearn_s, reference = median_seconds(with_sklearn, repeats)
    return {
        "keys": len(key_barcodes),
        "distinct_keys": len(set(key_barcodes)),
        "queries": len(query_barcodes),
        "distinct_queries": len(set(query_barcodes)),
        "ranks": ranks,
        "seconds": {"distinct_one_search": distinct_s, "all_records_per_rank": full_s, "sklearn_per_rank": sklearn_s},
        "speedup_vs_sklearn": sklearn_s / distinct_s,
        "speedup_vs_all_records": full_s / distinct_s,
        "identical_to_all_records": all((ours[r]["predicted"] == full[r]["predicted"]).all() for r in ranks),
        "identical_to_sklearn": all((ours[r]["predicted"].astype(str) == reference[r]).all() for r in ranks),
        "micro": {r: ours[r]["micro"] for r in ranks},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bench_knn_dedup")
    args = parser.parse_args()
    if not BOLD.is_file():
        raise SystemExit(f"the real BOLD file is not at {BOLD} (../shared/data is absent)")
    import faiss

    from bioscan_hf.data.prepared import load_prepared

    data = load_prepared(prepared_bold(args.workdir))
    out = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"FAISS {faiss.__version__} with {faiss.omp_get_max_threads()} threads",
        "records": sum(d.num_rows for d in data.values()),
        "distinct_barcodes": len({b for d in data.values() for b in d["dna_barcode"]}),
        "open_world": compare(data, "train", "test_unseen", args.repeats),
        "closed_world": compare(data, "train", "test", args.repeats),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
