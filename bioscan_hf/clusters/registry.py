"""A cluster registry that persists, as BINs do: new barcodes are clustered together with the registry's
members, and each new cluster takes the id of the registered cluster its old members belong to.

- a cluster holding old members of one registered cluster keeps that id (new records joined it);
- a cluster holding no old member is new and gets a new id (`BHF-` + its representative's digest);
- a cluster holding old members of several registered clusters is a merge: it keeps the id of the largest
  of them, and the merge is reported with every id it absorbed;
- a registered cluster whose old members now fall in several clusters is a split: its largest part keeps
  the id, the others get new ids, and the split is reported.

Nothing is silent: every merge and split is a row of the changes table. A registry is one Parquet file
(`<stem>.registry.parquet` beside a run's OUT: processid, dna_barcode, cluster), written by every run;
the registry a run reads is never modified.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bioscan_hf.clusters.linkage import LINK_DISTANCE, clusters_of
from bioscan_hf.core.errors import InputError, MissingFileError
from bioscan_hf.core.paths import user_path
from bioscan_hf.search.graph import build_graph
from bioscan_hf.search.references import REFERENCE_COLUMNS, Reference

REGISTRY_COLUMNS = ("processid", "dna_barcode", "cluster")


def read_registry(path: str | os.PathLike) -> pd.DataFrame:
    """A registry file written by `bioscan-hf cluster` (its columns checked)."""
    path = user_path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such cluster registry (a run of bioscan-hf cluster writes one beside OUT)")
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a cluster registry ({type(err).__name__}: {err})") from None
    missing = [c for c in REGISTRY_COLUMNS if c not in table]
    if missing:
        raise InputError(f"{path}: not a cluster registry; it lacks {', '.join(missing)}")
    return table[list(REGISTRY_COLUMNS)]


def carry_ids(found: pd.Series, registered: pd.Series) -> tuple[pd.Series, pd.DataFrame]:
    """Each new cluster's id under the registry (module docstring) and the merges and splits.

    `found`: the new run's cluster per record (its own ids), `registered`: the registry's cluster per record
    (NaN for records new to it), on the same index."""
    members = pd.DataFrame({"found": found, "registered": registered}).dropna(subset=["registered"])
    sizes = members.groupby(["found", "registered"]).size().rename("n").reset_index()
    total = members.groupby("registered").size()
    sizes = sizes.assign(total=sizes["registered"].map(total))
    # each found cluster claims the largest registered cluster among its old members ...
    claims = sizes.sort_values(["total", "registered"], ascending=[False, True]).drop_duplicates("found")
    # ... and a registered id claimed twice (a split) stays with the part holding most of its members
    claims = claims.sort_values(["n", "found"], ascending=[False, True]).drop_duplicates("registered")
    ids = dict(zip(claims["found"], claims["registered"]))
    final = found.map(lambda f: ids.get(f, f))  # no claim left: a new cluster, the run's own id
    changes = []
    for found_id, group in sizes.groupby("found"):
        absorbed = sorted(set(group["registered"]) - {ids.get(found_id, found_id)})
        if len(group) > 1 and absorbed:
            changes.append({"change": "merge", "cluster": ids.get(found_id, found_id), "with": ",".join(absorbed)})
    for registered_id, group in sizes.groupby("registered"):
        parts = sorted({ids.get(f, f) for f in group["found"]} - {registered_id})
        if group["found"].nunique() > 1:  # its members now in several clusters
            for part in parts:
                changes.append({"change": "split", "cluster": registered_id, "with": part})
    return final, pd.DataFrame(changes, columns=["change", "cluster", "with"])


def placement(
    hit_ids: Sequence[str], identities: Sequence[float], registry: pd.DataFrame, threshold: float = LINK_DISTANCE
) -> tuple[str | None, list[tuple[str, float]]]:
    """Where a query barcode falls among a registry's clusters, from its hits (processids, best first, with
    their identities): the cluster it joins (its best hit's, when within `threshold`; None: it would found
    a new cluster) and the nearest clusters with their distance (each at its nearest member)."""
    cluster_of = dict(zip(registry["processid"], registry["cluster"]))
    nearest: dict[str, float] = {}
    for hit, identity in zip(hit_ids, identities):
        if hit in cluster_of:
            nearest.setdefault(cluster_of[hit], round(1.0 - float(identity), 4))
    ranked = sorted(nearest.items(), key=lambda item: (item[1], item[0]))
    joins = ranked[0][0] if ranked and ranked[0][1] <= threshold else None
    return joins, ranked


def place_queries(
    results: pd.DataFrame, sequences: dict[str, str], registry: pd.DataFrame, threshold: float = LINK_DISTANCE
) -> pd.DataFrame:
    """Each identified query's cluster (identify's results: `query`, `best_hit`, `pident`): the registered
    cluster of its best hit when that hit is within `threshold` (`placement`), else `new:N`, shared by the
    queries of one putative new species (the new queries' own neighbour graph, linked as `cluster` does)."""
    rows = []
    for query, best, pident in zip(results["query"], results["best_hit"], results["pident"]):
        hit = [] if pd.isna(pident) else [best]
        joins, nearest = placement(hit, [float(pident) / 100] * len(hit), registry, threshold)
        rows.append(
            {
                "query": query,
                "cluster": joins,
                "status": "new" if joins is None else "registered",
                "nearest": nearest[0][0] if nearest else None,
                "distance": None if pd.isna(pident) else round(1.0 - float(pident) / 100, 4),
            }
        )
    placed = pd.DataFrame(rows, columns=["query", "cluster", "status", "nearest", "distance"])
    new = placed[(placed["status"] == "new") & placed["query"].isin(set(sequences))]
    if len(new):
        table = pd.DataFrame({"processid": new["query"], "dna_barcode": new["query"].map(sequences)})
        reference = Reference(table.reindex(columns=list(REFERENCE_COLUMNS)).reset_index(drop=True))
        with tempfile.TemporaryDirectory(prefix="bioscan-hf-new-queries-") as folder:
            graph = build_graph(reference, folder, candidates=50, progress=False)
        keys, hits, identity = graph.pairs()
        groups = clusters_of(keys, hits, 1.0 - identity, len(reference.barcodes), threshold)[reference.key_of_record]
        sizes = pd.Series(groups).value_counts()
        first_seen = {g: n for n, g in reversed(list(enumerate(groups)))}
        ranked = sorted(sizes.index, key=lambda g: (-sizes[g], first_seen[g]))
        names = {g: f"new:{n}" for n, g in enumerate(ranked, 1)}
        placed.loc[new.index, "cluster"] = [names[g] for g in groups]
    return placed


def registry_path(out: Path) -> Path:
    """Where a run writes its registry: `<stem>.registry.parquet` beside OUT."""
    return out.with_name(f"{out.stem}.registry.parquet")
