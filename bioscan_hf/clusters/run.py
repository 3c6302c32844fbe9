"""`cluster`: the barcodes of a plate or a library grouped into BIN-like clusters, written beside each other.

    OUT                      one row per record: processid, cluster (TSV, CSV or Parquet by suffix)
    <stem>.clusters.<ext>    one row per cluster: its id, size, representative, distances, consensus
                             lineage of its labelled members with their agreement, the BIN they carry
    <stem>.summary.json      counts, and agreement with the records' own BINs where they carry them
    <stem>.png               species accumulation curve, within / between distances with the threshold,
                             cluster sizes
    <stem>.registry.parquet  every member (the registry's too) with its cluster: `--registry` of a later run
    <stem>.changes.tsv       merges and splits of the registry's clusters (`registry.py`)
    <stem>.skipped.tsv       unusable records left out (with skip_bad)

A cluster's id is `BHF-` and the first hex digits of a digest of its representative barcode (the
barcode most records carry, then the most linked): the same cluster gets the same id in another run,
and an id is never used as a path. An existing OUT (or any file beside it) is replaced only when
`cluster` wrote it, or with `overwrite`, and each only by a complete file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bioscan_hf.clusters.agreement import adjusted_mutual_info
from bioscan_hf.clusters.linkage import clusters_of
from bioscan_hf.clusters.registry import carry_ids, read_registry, registry_path
from bioscan_hf.clusters.settings import ClusterSettings
from bioscan_hf.core.barcodes import barcode_key
from bioscan_hf.core.console import status
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.outputs import OutputFile, check_all, companion, output_path
from bioscan_hf.core.paths import user_path
from bioscan_hf.core.processes import process_state
from bioscan_hf.data.schema import LINEAGE_RANKS
from bioscan_hf.data.sources import Problems, is_prepared_dataset, iter_queries, skipped_path, write_skipped
from bioscan_hf.search.contained import outermost
from bioscan_hf.search.graph import graph_built, neighbour_graph
from bioscan_hf.search.references import REFERENCE_COLUMNS, Reference, read_references

OUTPUT_SUFFIXES = (".tsv", ".csv", ".parquet")
#: Share of a cluster's labelled records that must agree for its consensus to name a rank.
CONSENSUS = 0.9


@dataclass
class ClusterRun:
    """What a clustering run found and where it wrote it."""

    records: pd.DataFrame
    clusters: pd.DataFrame
    summary: dict
    out: Path
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: merges and splits of registered clusters (with a registry)
    changes: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: False in the processes of an `accelerate launch` but the main one (they shared the graph's search; the
    #: main process clustered and wrote every file)
    main_process: bool = True

    def report(self) -> str:
        """Lines for people: counts, agreement with BINs where known, files."""
        s = self.summary
        lines = [
            f"{s['clusters']:,} clusters of {s['records']:,} records ({s['distinct_barcodes']:,} distinct barcodes, "
            f"{s['contained_barcodes']:,} of them within a longer one; threshold {s['threshold']:.1%}) → {self.out}",
            f"{s['singletons']:,} clusters of one record; {s['unlabelled_clusters']:,} with no species label "
            f"(putative new species, or unidentified); clusters: {companion(self.out, 'clusters')}",
        ]
        if s.get("bins"):
            b = s["bins"]
            lines.append(
                f"against the records' BINs ({b['bins']:,}): {b['match_ratio']:.1%} of BINs recovered as one cluster, "
                f"adjusted Rand {b['ari']:.3f}, adjusted mutual information {b['ami']:.3f}, "
                f"{b['split_bins']:,} BINs split, {b['merged_clusters']:,} clusters merging BINs"
            )
        if s.get("registry"):
            r = s["registry"]
            lines.append(
                f"against the registry {r['read']}: {r['new_clusters']:,} new clusters, {r['merges']:,} merges and "
                f"{r['splits']:,} splits of registered clusters (listed in {companion(self.out, 'changes', '.tsv')})"
            )
        lines.append(f"registry for the next run: {registry_path(self.out)} (--registry)")
        if len(self.skipped):
            lines.append(f"skipped {len(self.skipped)} unusable record(s), listed in {skipped_path(self.out)}")
        return "\n".join(lines)


def output_files(out: Path, settings: ClusterSettings) -> dict[str, OutputFile]:
    """Every file a clustering run writes, by role (its own: those beside a summary it wrote)."""
    main = OutputFile(out, "cluster", settings.overwrite, ours=companion(out, "summary", ".json").is_file())
    return {
        "records": main,
        "clusters": main.companion("clusters"),
        "summary": main.companion("summary", ".json"),
        "changes": main.companion("changes", ".tsv"),
        "registry": main.companion("registry", ".parquet"),
        "plot": OutputFile(out.with_suffix(".png"), "cluster", settings.overwrite, ours=main.ours),
    }


def cluster(
    source: str | os.PathLike,
    out: str | os.PathLike,
    settings: ClusterSettings | None = None,
    *,
    progress: bool = True,
    **overrides,
) -> ClusterRun:
    """Cluster the barcodes of `source` (a FASTA, a TSV, a BOLD TSV, a prepared dataset: all splits or
    `settings.split`) into BIN-like clusters and write them to `out` (module docstring). `settings`: a
    `ClusterSettings` (its fields may also be given as keywords)."""
    settings = ClusterSettings.given(settings, **overrides)
    out = output_path(out, OUTPUT_SUFFIXES)
    files = output_files(out, settings)
    check_all(files.values())
    source_path = user_path(source)
    if settings.split and not is_prepared_dataset(source_path):
        raise InputError(f"--split {settings.split}: {source} is a file, not a prepared dataset; leave --split out")
    problems = Problems(skip=settings.skip_bad)
    table = read_barcodes(source_path, settings.split, problems)
    if not len(table):
        raise InputError(f"{source}: no usable barcode to cluster")
    registry = read_registry(settings.registry) if settings.registry else None
    plate = len(table)
    if registry is not None:  # the registry's members are clustered with the new records
        kept = registry[~registry["processid"].isin(set(table["processid"]))]
        table = pd.concat([table, kept[["processid", "dna_barcode"]]], ignore_index=True)
    reference = Reference(table)
    if process_state().num_processes > 1:  # under accelerate launch every process searches a share of the graph
        graph_built(reference, settings.candidates + 1, settings.num_proc, progress=progress, skip_contained=True)
        if not process_state().is_main_process:  # and the main one does the rest
            return ClusterRun(pd.DataFrame(), pd.DataFrame(), {}, out, main_process=False)
    labels, (keys, hits, distances) = linked_barcodes(reference, settings, progress)
    clusters, ids = describe_clusters(reference, labels, keys, hits, distances)
    found = pd.Series(ids[labels[reference.key_of_record]], index=table.index)
    changes = pd.DataFrame(columns=["change", "cluster", "with"])
    if registry is not None:
        registered = table["processid"].map(dict(zip(registry["processid"], registry["cluster"])))
        final, changes = carry_ids(found, registered)
        renamed = dict(zip(found, final))
        clusters["cluster"] = clusters["cluster"].map(renamed)
        clusters["nearest_cluster"] = clusters["nearest_cluster"].map(renamed)
        clusters["status"] = np.where(clusters["cluster"].isin(set(registry["cluster"])), "registered", "new")
        found = final
    everything = pd.DataFrame({"processid": table["processid"], "dna_barcode": table["dna_barcode"], "cluster": found})
    records = everything.iloc[:plate][["processid", "cluster"]].reset_index(drop=True)
    for column in ("line", "split"):
        if column in table:
            records[column] = table[column].iloc[:plate].to_numpy()
    clusters = clusters[clusters["cluster"].isin(set(records["cluster"]))].reset_index(drop=True)  # the plate's
    summary = summarize(table.iloc[:plate], records, clusters, settings.threshold)
    plate_keys = np.unique(reference.key_of_record[:plate])
    summary["contained_barcodes"] = int((reference.containers[plate_keys] >= 0).sum())  # folded into containers
    if registry is not None:
        summary["registry"] = {
            "read": str(settings.registry),
            "new_clusters": int((clusters["status"] == "new").sum()),
            "merges": int((changes["change"] == "merge").sum()),
            "splits": int((changes["change"] == "split").sum()),
        }
    files["records"].write_table(records)
    files["clusters"].write_table(clusters, out.suffix)
    files["changes"].write_table(changes, ".tsv")
    files["registry"].write_table(everything, ".parquet")
    files["plot"].write(lambda path: plot_clusters(records, clusters, keys, hits, distances, labels, summary, path))
    skipped = write_skipped(out, problems)
    summary["skipped"] = len(skipped)
    files["summary"].write_json(summary)
    return ClusterRun(records, clusters, summary, out, skipped, changes)


def linked_barcodes(
    reference: Reference, settings: ClusterSettings, progress: bool = True
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A cluster number per distinct barcode of `reference`, and the neighbour graph's pairs it was linked
    from (barcode, hit, distance). A barcode another contains exactly (a shorter read of the same sequence,
    `search.contained`) is searched no further and joins its outermost container's cluster: the graph's rows
    are the others', and a pair naming it links its container (on the real BOLD file the graph in about half
    the time, and the same agreement with BOLD's BINs within a BIN: BENCHMARKS.md)."""
    # the graph itself is let go once its pairs are read (at full size its other columns are GBs)
    graph = neighbour_graph(
        reference, settings.candidates + 1, settings.num_proc, progress=progress, skip_contained=True
    )
    keys, hits, identity = graph.pairs()
    del graph
    outer = outermost(reference.containers)
    reference.__dict__.pop("encoded", None)  # the bytes the search read (~1.3 GB at full size): linking needs none
    if progress:
        status(
            f"linking {len(reference.barcodes):,} distinct barcodes at {settings.threshold:.1%} "
            f"({int((outer != np.arange(len(outer))).sum()):,} of them within a longer one, clustered with it)"
        )
    distances = 1.0 - identity
    size, refined = len(reference.barcodes), not settings.no_refine
    folded = clusters_of(outer[keys], outer[hits], distances, size, settings.threshold, refined, settings.num_proc)
    labels = np.unique(folded[outer], return_inverse=True)[1]  # numbered 0… again, in the same order
    return labels, (keys, hits, distances)


def record_clusters(
    barcodes: Sequence[str], settings: ClusterSettings | None = None, progress: bool = False, **overrides
) -> np.ndarray:
    """A cluster number per barcode of `barcodes` (one per record; records with one barcode share it), as
    `cluster` links them, without writing anything: what the zero-shot clustering protocol scores."""
    settings = ClusterSettings.given(settings, **overrides)
    keys = [barcode_key(b) for b in barcodes]
    table = pd.DataFrame({"processid": [str(n) for n in range(len(keys))], "dna_barcode": keys})
    reference = Reference(table.reindex(columns=list(REFERENCE_COLUMNS)))
    labels, _ = linked_barcodes(reference, settings, progress)
    return labels[reference.key_of_record]


def read_barcodes(source: Path, split: str | None, problems: Problems) -> pd.DataFrame:
    """The records to cluster, a row each with `REFERENCE_COLUMNS` (labels where the source carries them): a
    prepared dataset's splits, or identify's query files (FASTA with or without taxonomy, TSV/CSV, BOLD TSV)."""
    if is_prepared_dataset(source):
        return read_references(source, (split,) if split else None, problems, where=True)
    rows = []
    for query in iter_queries(source, problems=problems):
        if query.sequence is None:
            raise InputError(f"{source}: photos cannot be clustered; give barcodes (FASTA, TSV or a BOLD TSV)")
        rows.append({"processid": query.id, "dna_barcode": query.sequence, **(query.truth or {})})
    return pd.DataFrame(rows, columns=list(REFERENCE_COLUMNS))


def cluster_ids(reference: Reference, representatives: np.ndarray) -> np.ndarray:
    """`BHF-` + the digest of each cluster's representative barcode (longer where two would collide)."""
    digests = [hashlib.sha1(reference.barcodes[k].encode()).hexdigest() for k in representatives]
    width = 8
    while len({d[:width] for d in digests}) < len(digests):
        width += 2
    return np.array([f"BHF-{d[:width]}" for d in digests], dtype=object)


def describe_clusters(
    reference: Reference, labels: np.ndarray, keys: np.ndarray, hits: np.ndarray, distances: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per cluster (largest first) and each cluster number's id."""
    count = labels.max() + 1
    same = labels[keys] == labels[hits]
    records_per_key = np.bincount(reference.key_of_record, minlength=len(labels))
    linked_per_key = np.bincount(keys[same], minlength=len(labels))
    order = np.lexsort((-linked_per_key, -records_per_key, labels))
    representatives = order[np.searchsorted(labels[order], np.arange(count))]
    ids = cluster_ids(reference, representatives)
    within = np.zeros(count)
    np.maximum.at(within, labels[keys[same]], distances[same])
    # each cluster's nearest other cluster: the closest of the graph's pairs leaving it
    leaving = np.flatnonzero(~same)
    leaving = leaving[np.lexsort((distances[leaving], labels[keys[leaving]]))]
    leaving = leaving[np.unique(labels[keys[leaving]], return_index=True)[1]]
    nearest = np.full(count, np.inf)
    nearest_to = np.full(count, -1)
    nearest[labels[keys[leaving]]] = distances[leaving]
    nearest_to[labels[keys[leaving]]] = labels[hits[leaving]]
    table = reference.table
    record_labels = labels[reference.key_of_record]
    first_record = np.array([reference.records(k)[0] for k in representatives], dtype=np.int64)
    frame = pd.DataFrame(
        {
            "cluster": ids,
            "records": np.bincount(record_labels, minlength=count),
            "barcodes": np.bincount(labels, minlength=count),
            "representative": table["processid"].to_numpy()[first_record],
            "max_within": np.round(within, 4),
            "nearest_cluster": np.where(nearest_to >= 0, ids[nearest_to], None),
            "nearest_distance": np.where(np.isfinite(nearest), np.round(nearest, 4), np.nan),
        }
    )
    frame = pd.concat([frame, consensus(table, record_labels, count)], axis=1)
    frame = frame.sort_values(["records", "cluster"], ascending=[False, True], kind="stable")
    return frame.reset_index(drop=True), ids


def consensus(table: pd.DataFrame, groups: np.ndarray, count: int) -> pd.DataFrame:
    """Per group of records (`groups`: a number 0…count−1 per row of `table`): the lineage as far down as
    `CONSENSUS` of the labelled members agree, the agreement at the finest rank named, and the BIN most of
    them carry with its share. A rank no member is labelled at is passed over (a BOLD header names the
    taxon alone); between equally common labels, the first in alphabetical order."""
    result = pd.DataFrame(index=pd.RangeIndex(count))
    going = np.ones(count, dtype=bool)
    agreement = np.full(count, np.nan)
    for rank in LINEAGE_RANKS:
        top, share = _most_common(table[rank], groups, count)
        labelled = ~np.isnan(share)
        named = going & labelled & (share >= CONSENSUS)
        going &= ~labelled | (share >= CONSENSUS)
        result[rank] = np.where(named, top, None)
        agreement = np.where(named, np.round(share, 3), agreement)
    result["agreement"] = agreement
    top, share = _most_common(table["dna_bin"], groups, count)
    result["dna_bin"] = np.where(np.isnan(share), None, top)
    result["bin_share"] = np.round(share, 3)
    return result


def _most_common(values: pd.Series, groups: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group, its most common label among `values` and that label's share of its labelled values
    (None and NaN where it has none)."""
    codes, names = pd.factorize(values, sort=True)  # alphabetical codes: ties go to the first
    labelled, width = codes >= 0, max(len(names), 1)
    group, code = groups[labelled].astype(np.int64), codes[labelled].astype(np.int64)
    pair, tally = np.unique(group * width + code, return_counts=True)
    pair_group, pair_code = pair // width, pair % width
    best = np.lexsort((pair_code, -tally, pair_group))
    best = best[np.unique(pair_group[best], return_index=True)[1]]
    top = np.full(count, None, dtype=object)
    share = np.full(count, np.nan)
    top[pair_group[best]] = np.asarray(names, dtype=object)[pair_code[best]]
    share[pair_group[best]] = tally[best] / np.bincount(group, minlength=count)[pair_group[best]]
    return top, share


def bin_agreement(truth: pd.Series, found: pd.Series) -> dict:
    """How clusters recover known BINs (records carrying one): match ratio (BINs whose records form exactly
    one cluster, alone), adjusted Rand, adjusted mutual information, BINs split and clusters merging BINs."""
    from sklearn.metrics import adjusted_rand_score

    known = truth.notna().to_numpy()
    truth, found = truth[known].to_numpy(), found[known].to_numpy()
    if not len(truth):
        return {}
    pairs = pd.DataFrame({"bin": truth, "cluster": found})
    clusters_per_bin = pairs.groupby("bin")["cluster"].nunique()
    bins_per_cluster = pairs.groupby("cluster")["bin"].nunique()
    whole = clusters_per_bin[clusters_per_bin == 1].index
    cluster_of = pairs.drop_duplicates("bin").set_index("bin")["cluster"]
    exact = int((bins_per_cluster[cluster_of[whole]].to_numpy() == 1).sum())
    return {
        "bins": int(len(clusters_per_bin)),
        "match_ratio": round(float(exact / len(clusters_per_bin)), 4),
        "ari": round(float(adjusted_rand_score(truth, found)), 4),
        "ami": round(adjusted_mutual_info(truth, found), 4),
        "split_bins": int((clusters_per_bin > 1).sum()),
        "merged_clusters": int((bins_per_cluster > 1).sum()),
    }


def summarize(table: pd.DataFrame, records: pd.DataFrame, clusters: pd.DataFrame, threshold: float) -> dict:
    """Counts and, where records carry BINs, agreement with them."""
    return {
        "records": len(records),
        "distinct_barcodes": int(table["dna_barcode"].nunique()),
        "clusters": len(clusters),
        "threshold": threshold,
        "singletons": int((clusters["records"] == 1).sum()),
        "unlabelled_clusters": int(clusters["species"].isna().sum()),
        "bins": bin_agreement(table["dna_bin"].reset_index(drop=True), records["cluster"]),
    }


def plot_clusters(records, clusters, keys, hits, distances, labels, summary, path: Path) -> None:
    """Species accumulation (clusters found as records are added in random order), the distances within
    and between clusters with the threshold (the barcode gap), and the cluster sizes."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(15, 4.5))
    curve, gap, sizes = figure.subplots(1, 3)
    rng = np.random.default_rng(0)
    shuffled = records["cluster"].to_numpy()[rng.permutation(len(records))]
    _, first = np.unique(shuffled, return_index=True)
    seen = np.zeros(len(shuffled))
    seen[first] = 1
    curve.plot(np.arange(1, len(shuffled) + 1), np.cumsum(seen))
    curve.set(xlabel="records sampled", ylabel="clusters found")
    same = labels[keys] == labels[hits]
    between = distances[~same]
    bins = np.linspace(0, max(0.2, float(distances.max(initial=0.0))), 60)
    gap.hist(100 * distances[same & (keys != hits)], bins=100 * bins, alpha=0.6, label="within a cluster")
    gap.hist(100 * between, bins=100 * bins, alpha=0.6, label="to other clusters (nearest barcodes)")
    gap.axvline(100 * summary["threshold"], color="k", linestyle="--", label=f"threshold {summary['threshold']:.1%}")
    gap.set(xlabel="distance (% of bases)", ylabel="barcode pairs", yscale="log")
    gap.legend()
    edges = np.unique(np.geomspace(1, max(2, clusters["records"].max()) + 1, 30).astype(int))
    sizes.hist(clusters["records"], bins=edges)
    sizes.set(xscale="log", xlabel="records per cluster", ylabel="clusters")
    for axes, title in ((curve, "species accumulation"), (gap, "the barcode gap"), (sizes, "cluster sizes")):
        axes.set_title(title, y=1.0)  # placed, not fitted above the axes' ticks
    for axis in (gap.yaxis, sizes.xaxis):  # 1, 10, 100 in plain text (10ⁿ in mathtext: ~0.2 s of the plot)
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    width, height = figure.get_size_inches()  # margins in inches (tight_layout measured every label: ~0.7 s)
    figure.subplots_adjust(
        left=0.75 / width, right=1 - 0.2 / width, bottom=0.6 / height, top=1 - 0.4 / height, wspace=0.28
    )
    figure.savefig(path, format="png", dpi=90)
