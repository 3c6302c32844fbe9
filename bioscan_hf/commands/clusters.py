"""Clustering command: `cluster` (BIN-like clusters of a plate's or a library's barcodes)."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.clusters.linkage import LINK_DISTANCE
from bioscan_hf.clusters.settings import ClusterSettings
from bioscan_hf.commands.common import Command, print_report
from bioscan_hf.core.options import option


@dataclass(frozen=True, kw_only=True)
class ClusterInputs:
    source: str = option(
        "the barcodes: a FASTA, a TSV/CSV (processid, dna_barcode), a BOLD TSV, or a prepared dataset folder",
        positional=True,
    )
    out: str = option("records file to write: .tsv, .csv or .parquet (clusters, summary and plot beside it)")


def run_cluster(inputs: ClusterInputs, settings: ClusterSettings) -> None:
    from bioscan_hf.clusters.run import cluster

    print_report(cluster(inputs.source, inputs.out, settings))


COMMANDS: dict[str, Command] = {
    "cluster": Command(
        (ClusterInputs, ClusterSettings),
        run_cluster,
        "Group barcodes into BIN-like clusters (interim species), offline: every distinct barcode is searched "
        "against the others once (identify's engine: the neighbour graph, cached; a barcode another contains "
        "exactly, a shorter read of the same sequence, joins that one's cluster unsearched), barcodes within "
        f"--threshold ({LINK_DISTANCE}: what agrees best with BOLD's BINs) are joined by single linkage, and "
        "components with internal structure are split "
        "where Markov clustering finds well-separated groups (RESL's refinement). OUT lists each record's "
        "cluster; beside it OUT's .clusters file (id BHF-…, records, distinct barcodes, representative, largest "
        "distance within, nearest cluster and its distance, the consensus lineage of its labelled records with "
        "their agreement, the BIN most carry), .summary.json (with the agreement with the records' own BINs "
        "where they carry them: match ratio, adjusted Rand, AMI) and .png (species accumulation, the barcode "
        "gap, cluster sizes).",
        "example: bioscan-hf cluster plate.fasta --out clusters.tsv --num-proc 2",
    ),
}
