"""Label findings from each record's nearest references: `label_conflict` and `contamination`.

Every distinct barcode is identified against the library by the identify engine (spaced seeds, exact
alignment); each record is then judged with itself left out (its own barcode still counts where other
records carry it). At each rank the engine's candidate is what the nearest references say, with the
calibrated probability that it is right (`bioscan_hf.search.calibration`, fitted on the library itself;
a record shorter than its `min_length` is scored by its short-query models, as `identify` scores a query).
Where the candidate is not the record's label, that probability is how sure the audit is that the label
is wrong: the record's score is the highest such probability, its rank the coarsest conflicting rank
whose probability reaches `SPECIFIC_ENOUGH` (where the label starts to be wrong). A conflict at
the order whose barcode is also far from every record of its own order (below the order's identity
threshold, or not among its nearest barcodes at all) is `contamination`: a barcode from another organism.
A label swapped across orders looks the same; the evidence names both sides.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bioscan_hf.audit.findings import SPECIFIC_ENOUGH, Finding
from bioscan_hf.core.barcodes import barcode_length
from bioscan_hf.core.console import progress_bar
from bioscan_hf.data.schema import LINEAGE_RANKS
from bioscan_hf.search.calibration import Calibration
from bioscan_hf.search.calls import VOTE_MARGIN, Evidence, Hit, confidences, rank_evidence
from bioscan_hf.search.graph import NeighbourGraph
from bioscan_hf.search.references import Reference
from bioscan_hf.search.settings import DEFAULT_THRESHOLDS

#: Nearest references named in the evidence.
SHOWN_NEIGHBOURS = 3

#: Groups judged together: their evidence is scored by the calibration in one call, then their hits dropped.
JUDGED_AT_ONCE = 10_000


def left_out(reference: Reference, key: int, hits: Sequence[Hit]) -> list[Hit]:
    """A record's hits with itself left out: its own barcode goes when no other record carries it."""
    if reference.record_count(key) > 1:
        return list(hits)
    return [hit for hit in hits if hit.key != key]


def label_findings(
    reference: Reference,
    rows: Sequence[int],
    hits_of_key: NeighbourGraph,
    calibration: Calibration,
    margin: float = VOTE_MARGIN,
    progress: bool = True,
) -> list[Finding]:
    """The label findings on the records `rows` of `reference.table` (`hits_of_key`: each distinct barcode's
    hits, best first, from the neighbour graph). Records sharing a barcode and a lineage are judged once,
    `JUDGED_AT_ONCE` groups at a time (a group's hits are dropped once it is judged: at BIOSCAN-5M's size
    holding them all took more memory than the machine has)."""
    rows = np.asarray(rows, dtype=np.int64)
    order, bounds = _groups(reference, rows)
    findings: list[Finding] = []
    batch: list[tuple[int, list[int]]] = []
    for group in progress_bar(range(len(bounds) - 1), desc="judging labels", unit="group", disable=not progress):
        members = rows[order[bounds[group] : bounds[group + 1]]].tolist()
        batch.append((int(reference.key_of_record[members[0]]), members))
        if len(batch) == JUDGED_AT_ONCE:
            findings += _judged(reference, batch, hits_of_key, calibration, margin)
            batch = []
    return findings + _judged(reference, batch, hits_of_key, calibration, margin)


def _groups(reference: Reference, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The records `rows` grouped by barcode and lineage, groups in the order of their first record, members
    in row order: positions into `rows` (`order`) and each group's bounds in them."""
    columns = {"key": reference.key_of_record[rows]}
    for rank in LINEAGE_RANKS:  # the reference's label codes; missing labels: one code (−1), equal to each other
        columns[rank] = reference.labels[rank][0][rows]
    group = pd.DataFrame(columns).groupby(list(columns), sort=False).ngroup().to_numpy()
    order = np.argsort(group, kind="stable")
    return order, np.searchsorted(group[order], np.arange(group.max(initial=-1) + 2))


def _judged(
    reference: Reference,
    batch: Sequence[tuple[int, list[int]]],
    hits_of_key: NeighbourGraph,
    calibration: Calibration,
    margin: float,
) -> list[Finding]:
    """The findings on a batch of groups (a distinct barcode and the records that share it and a lineage)."""
    table = reference.table
    judged = []
    for key, members in batch:
        hits = left_out(reference, key, hits_of_key[key])
        judged.append((members, hits, rank_evidence(reference, hits, margin, without=members[0])))
    short = [barcode_length(reference.barcodes[key]) < calibration.min_length for key, _ in batch]  # as identify
    probabilities = confidences(calibration, [found for _, _, found in judged], short)
    findings = []
    for (members, hits, found), confidence in zip(judged, probabilities):
        record = members[0]
        conflicts = [
            (rank, found[rank], confidence[rank])
            for rank in LINEAGE_RANKS
            if found[rank] is not None and table[rank].iat[record] not in (None, found[rank].label)
        ]
        if not conflicts:
            continue
        score = max(c[2] for c in conflicts)
        rank, candidate, _ = next((c for c in conflicts if c[2] >= SPECIFIC_ENOUGH), max(conflicts, key=lambda c: c[2]))
        label = table[rank].iat[record]
        nearest_own = _nearest_with_label(reference, hits, "order", label, record) if rank == "order" else None
        far = rank == "order" and (nearest_own is None or nearest_own[1] < DEFAULT_THRESHOLDS["order"])
        for row in members:  # the same vote; each record's evidence names the others, never itself
            evidence = _evidence(reference, hits, rank, candidate, row, margin)
            if far:
                nearest_own = _nearest_with_label(reference, hits, "order", label, row)
                evidence += (
                    f"; no {label} record among its {len(hits)} nearest barcodes"
                    if nearest_own is None
                    else f"; its nearest {label} record is {nearest_own[0]} at {nearest_own[1]:.1%}"
                )
            category = "contamination" if far else "label_conflict"
            findings.append(Finding(row, category, round(score, 4), rank, label, candidate.label, evidence))
    return findings


def _record_id(reference: Reference, key: int, without: int) -> str:
    """A processid standing for barcode `key` other than the audited record's own."""
    row = reference.representative(key)
    if row == without:
        row = next(int(r) for r in reference.records(key) if r != without)
    return str(reference.table["processid"].iat[row])


def _nearest_with_label(
    reference: Reference, hits: Sequence[Hit], rank: str, label: str, without: int
) -> tuple[str, float] | None:
    """The nearest reference labelled `label` at `rank` (its processid and identity), if any is a hit."""
    for hit in hits:
        if reference.key_label(hit.key, rank, without) == label:
            return _record_id(reference, hit.key, without), hit.identity
    return None


def _evidence(
    reference: Reference, hits: Sequence[Hit], rank: str, candidate: Evidence, row: int, margin: float
) -> str:
    """The vote and the nearest references, as a curator reads them."""
    nearest = ", ".join(
        f"{_record_id(reference, hit.key, row)} {hit.identity:.1%} {reference.key_label(hit.key, rank, row) or '?'}"
        for hit in hits[:SHOWN_NEIGHBOURS]
    )
    return (
        f"{candidate.support} of {candidate.voters} records within {margin:.1%} of the best identity "
        f"({candidate.identity:.1%}) say {rank} {candidate.label}; nearest: {nearest}"
    )
