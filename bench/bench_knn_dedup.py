"""1-NN over distinct barcodes on the real BOLD file (../shared/data), against searching every record and
against scikit-learn, in one run.

The file is imported with BIOSCAN-style partitions (`import-bold`, seed 0) and prepared; keys = `train`,
queries = `test_unseen` (and, second, queries = `test`, closed world). Embeddings: a fixed random 768-d
projection of each barcode's 4-mer profile, so equal barcodes get equal vectors as with any encoder
(the search cost does not depend on what the vectors mean). Three ways, predictions compared per rank:

- distinct: `knn_probe(..., key_ids=barcodes, query_ids=barcodes)`: each distinct key barcode and each
  distinct query barcode searched once (FAISS exact), predictions expanded back to the records;
- all records: `knn_probe` over every record (FAISS exact);
- scikit-learn: `KNeighborsClassifier(n_neighbors=1, metric="cosine")` over every record.

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
    from bioscan_hf.evaluation.knn import knn_probe

    keys, queries = data[key_split], data[query_split]
    key_barcodes, query_barcodes = keys["dna_barcode"], queries["dna_barcode"]
    key_vectors, query_vectors = barcode_vectors(key_barcodes), barcode_vectors(query_barcodes)
    result = {
        "keys": len(key_barcodes),
        "distinct_keys": len(set(key_barcodes)),
        "queries": len(query_barcodes),
        "distinct_queries": len(set(query_barcodes)),
        "ranks": {},
    }
    totals = {"distinct": 0.0, "all_records": 0.0, "sklearn": 0.0}
    for rank in RANKS:
        key_labels = np.array(rank_values(keys, rank), dtype=object)
        query_labels = np.array(rank_values(queries, rank), dtype=object)
        if (query_labels == None).all():  # noqa: E711 (elementwise)
            continue
        distinct_s, distinct = median_seconds(
            lambda kl=key_labels, ql=query_labels: knn_probe(
                key_vectors, kl, query_vectors, ql, key_ids=key_barcodes, query_ids=query_barcodes
            ),
            repeats,
        )
        full_s, full = median_seconds(
            lambda kl=key_labels, ql=query_labels: knn_probe(key_vectors, kl, query_vectors, ql), repeats
        )
        labelled_keys, labelled_queries = key_labels != None, query_labels != None  # noqa: E711

        def with_sklearn(kl=key_labels, ql=query_labels, lk=labelled_keys, lq=labelled_queries):
            classifier = KNeighborsClassifier(n_neighbors=1, metric="cosine", algorithm="brute")
            return classifier.fit(key_vectors[lk], kl[lk].astype(str)).predict(query_vectors[lq])

        sklearn_s, reference = median_seconds(with_sklearn, repeats)
        result["ranks"][rank] = {
            "distinct_seconds": distinct_s,
            "all_records_seconds": full_s,
            "sklearn_seconds": sklearn_s,
            "identical_to_all_records": bool((distinct["predicted"] == full["predicted"]).all()),
            "agreement_with_sklearn": float(np.mean(distinct["predicted"].astype(str) == reference)),
            "micro": distinct["micro"],
        }
        totals["distinct"] += distinct_s
        totals["all_records"] += full_s
        totals["sklearn"] += sklearn_s
    result["seconds_all_ranks"] = totals
    result["speedup_vs_sklearn"] = totals["sklearn"] / totals["distinct"]
    result["speedup_vs_all_records"] = totals["all_records"] / totals["distinct"]
    return result


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
