"""Per-rank calls from a query's hits: the vote, the evidence the calibration reads, and the two rules.

At each rank the references voting are the hits within `VOTE_MARGIN` of the best identity; their most
common label (counted over records) is the rank's candidate. What the calibration reads about it
(`Evidence`): the best identity, the share of the query the best hit covers, the share of voting records
that agree and how many do, the gap from the best identity to the best hit carrying another label, and
how the best identity compares with the spread of the candidate's own members (`search.spread`).

Two rules decide whether the candidate is called: the calibrated rule (default) calls it when the
probability that it is right (`bioscan_hf.search.calibration`) reaches `min_confidence`; the fixed rule
(`thresholds`, in the style of BOLD's ID engine) calls it when the best identity reaches the rank's
threshold. In both, the confidence shown is the calibrated probability, and no rank is called when the
best hit covers less than `MIN_QUERY_COVERAGE` of the query.

Photo queries (CLIBD neighbours: no identity) are called by their neighbours' vote alone, with the share
that agrees, shrunk towards 0 when few vote, as confidence (not calibrated).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from bioscan_hf.data.schema import CALL_RANKS
from bioscan_hf.search.calibration import Calibration
from bioscan_hf.search.references import Reference
from bioscan_hf.search.settings import DEFAULT_MIN_CONFIDENCE

#: Hits within this much identity of the best one vote on the candidate (half a point: on the real BOLD
#: file the genus of unseen species was right 93.9% of the time, against 91.8% with a point, 93.6% by
#: the best hit alone).
VOTE_MARGIN = 0.005
#: Below this share of the query covered by the best hit, no rank is called: a query much longer than
#: the barcode it matches (a barcode repeated, a contig) would otherwise be called on a fragment of itself.
MIN_QUERY_COVERAGE = 0.8
#: Above this difference between the identities of the two halves of the best alignment, nothing is called:
#: a chimera (two barcodes joined: 16 points median on the real file) matches along one half only; real
#: queries of unseen species differ by under 10 points in 99% of cases (BENCHMARKS.md).
CHIMERA_SPLIT = 0.12
#: What the gap is when no hit in the shortlist carries another label (the shortlist's own spread is a
#: lower bound; beyond this it stops mattering).
MAX_GAP = 0.3
#: SINTAX's rank letters, for the `lineage` column.
SINTAX_LETTERS = {"order": "o", "family": "f", "subfamily": "sf", "genus": "g", "species": "s"}


def sintax(rank: str, label: str) -> str:
    """One rank of a SINTAX lineage: `g:Aedes`, `s:Aedes_aegypti` (spaces as underscores)."""
    return f"{SINTAX_LETTERS[rank]}:{label.replace(' ', '_')}"


def read_candidates(candidates: str) -> dict[str, tuple[str, float | None]]:
    """A result's `candidates` column read back (`o:Diptera(1.00),g:Aedes(0.62)`): rank → its candidate
    and confidence, in the column's order (None where the query was too short to be given one: `(?)`)."""
    rank_of = {letter: rank for rank, letter in SINTAX_LETTERS.items()}
    found = {}
    for entry in filter(None, candidates.split(",")):
        letter, _, rest = entry.partition(":")
        label, _, confidence = rest.rpartition("(")  # the last parenthesis: a label may hold one
        found[rank_of[letter]] = (label.replace("_", " "), None if confidence == "?)" else float(confidence[:-1]))
    return found


@dataclass
class Hit:
    """A reference barcode found for a query."""

    key: int
    identity: float | None
    score: float
    #: Share of the query's bases the alignment covers (None for photos).
    coverage: float | None = None
    #: The query's strand in the alignment: "+" as given, "-" its reverse complement.
    strand: str = "+"


@dataclass(frozen=True)
class Evidence:
    """A rank's candidate and what its calibrated probability is computed from."""

    label: str | None
    support: int
    voters: int
    identity: float
    coverage: float
    gap: float
    #: the candidate order (calibrations are grouped by order where the reference allows)
    group: str | None = None
    #: the candidate's loosest sibling identity (`Reference.loosest_sibling`; NaN: too few subgroups)
    loosest: float = math.nan

    @property
    def agreement(self) -> float:
        return self.support / self.voters if self.voters else 0.0

    @property
    def inside(self) -> float:
        """How much closer the best hit is than the candidate's loosest subgroup sits to its nearest sibling:
        below 0, the query is farther from the candidate than any of its members is from another."""
        return self.identity - self.loosest

    def features(self) -> tuple[float, ...]:
        """In `calibration.FEATURES` order."""
        return (self.identity, self.coverage, self.agreement, self.support, self.voters, self.gap, self.inside)


def evidence(
    reference: Reference,
    hits: Sequence[Hit],
    rank: str,
    margin: float = VOTE_MARGIN,
    group: str | None = None,
    without: int | None = None,
) -> Evidence | None:
    """The candidate at `rank` for a DNA query's hits (best first), or None without hits or labels;
    `without`: a reference record (row) left out of the votes (a record audited against the others)."""
    if not hits or hits[0].identity is None:
        return None
    return _rank_evidence(reference, _Voting.of(reference, hits, margin, without), rank, group)


def rank_evidence(
    reference: Reference, hits: Sequence[Hit], margin: float = VOTE_MARGIN, without: int | None = None
) -> dict[str, Evidence | None]:
    """`evidence` at every rank, each grouped by the candidate order (`without`: as `evidence`); the hits
    and their voters' records read once for all ranks."""
    if not hits or hits[0].identity is None:
        return dict.fromkeys(CALL_RANKS)
    voting = _Voting.of(reference, hits, margin, without)
    order = _rank_evidence(reference, voting, "order", None)
    group = order.label if order else None
    found = {rank: _rank_evidence(reference, voting, rank, group) for rank in CALL_RANKS if rank != "order"}
    return {"order": replace(order, group=group) if order else None, **found}


@dataclass(frozen=True)
class _Voting:
    """A query's hits as arrays, and the records of those within the margin of the best (its voters)."""

    hits: Sequence[Hit]
    keys: np.ndarray
    identities: np.ndarray
    rows: np.ndarray
    without: int | None

    @classmethod
    def of(cls, reference: Reference, hits: Sequence[Hit], margin: float, without: int | None) -> _Voting:
        keys = np.fromiter((h.key for h in hits), dtype=np.int64, count=len(hits))
        identities = np.fromiter((h.identity for h in hits), dtype=np.float64, count=len(hits))
        voting = keys[identities >= hits[0].identity - margin]
        rows = reference.records_of(voting)
        return cls(hits, keys, identities, rows if without is None else rows[rows != without], without)


def _rank_evidence(reference: Reference, voting: _Voting, rank: str, group: str | None) -> Evidence | None:
    """`evidence` at one rank from the query's `_Voting`."""
    code, support, voters = reference.vote_rows(voting.rows, rank)
    if code < 0:
        return None
    hit_codes = reference.key_codes(rank)[voting.keys]
    if voting.without is not None:  # the audited record's own barcode, voted without it
        own = voting.keys == reference.key_of_record[voting.without]
        if own.any():
            hit_codes = np.where(own, reference.key_code(int(voting.keys[own][0]), rank, voting.without), hit_codes)
    others = np.flatnonzero((hit_codes >= 0) & (hit_codes != code))
    best = voting.hits[0]
    gap = best.identity - float(voting.identities[others[0] if len(others) else -1])
    label = str(reference.labels[rank][1][code])
    return Evidence(
        label, support, voters, best.identity, best.coverage or 0.0, min(max(gap, 0.0), MAX_GAP), group,
        reference.loosest_sibling(rank, label),
    )  # fmt: skip


def confidences(
    calibration: Calibration, found: Sequence[dict[str, Evidence | None]], short: Sequence[bool] = ()
) -> list[dict[str, float]]:
    """The calibrated probability of each rank's candidate, for many queries' evidence at once (`short`: per
    query, whether it is shorter than the calibration's `min_length` and takes its short-query models)."""
    result: list[dict[str, float]] = [{rank: 0.0 for rank in CALL_RANKS} for _ in found]
    is_short = list(short) or [False] * len(found)
    for rank in CALL_RANKS:
        for models in (False, True):
            rows = [i for i, f in enumerate(found) if f[rank] is not None and is_short[i] == models]
            if rows:
                for i, p in zip(rows, calibration.probabilities(rank, [found[i][rank] for i in rows], models)):
                    result[i][rank] = float(p)
    return result


def call(
    hits: Sequence[Hit],
    found: dict[str, Evidence | None],
    confidence: dict[str, float],
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    thresholds: dict[str, float] | None = None,
    floor: float = 0.0,
    halves: tuple[float, float] | None = None,
    length: tuple[int, int] | None = None,
) -> dict:
    """Per-rank calls, confidences, support, SINTAX lineages and a note for one DNA query, from its hits
    (best first), the evidence at each rank and the candidates' calibrated probabilities; `floor`: the
    identity under which the calibration saw nothing (`Calibration.floor`), below which no rule calls;
    `halves`: the identities of the best alignment's two halves (`align.HitStats.halves`); `length`: the
    query's bases and the fewest the calibration calls (`Calibration.shortest`), under which no rule calls
    and no confidence is given (NaN, empty in TSV: the model's value there is no probability, and the query
    may well be right, so not 0 either).

    Keys starting with `_` (each rank's candidate, and why it could not be called whatever its confidence)
    are for the summary and for `decided` again at other confidences (`plate.adapt_to_plate`), not for the
    output table."""
    too_short = length is not None and length[0] < length[1]
    facts: dict = {"_by_confidence": thresholds is None}
    for rank in CALL_RANKS:
        evidence_here = found[rank]
        facts[f"_candidate_{rank}"] = evidence_here.label if evidence_here else None
        facts[f"{rank}_support"] = evidence_here.support if evidence_here else 0
        rule = None if thresholds is None else (thresholds[rank], round(confidence[rank], 4))
        facts[f"_why_{rank}"] = _why_not(hits, evidence_here, floor, halves, length, rule)
    p = {rank: float("nan") if too_short else confidence[rank] for rank in CALL_RANKS}
    return {**decided(facts, p, min_confidence), **facts}


def _why_not(
    hits: Sequence[Hit],
    evidence_here: Evidence | None,
    floor: float,
    halves: tuple[float, float] | None,
    length: tuple[int, int] | None,
    rule: tuple[float, float] | None,
) -> str:
    """Why a rank's candidate is not called whatever its confidence ("" where its confidence decides); `rule`:
    under `--thresholds`, the rank's threshold and the candidate's confidence as shown (which it does not read)."""
    if not hits:
        return "no reference shares a seed with the query"
    if hits[0].identity is not None and hits[0].identity < floor:
        return (
            f"best hit {hits[0].identity:.1%} identity, below any the calibration has seen ({floor:.1%}): "
            "not a COI barcode of this library?"
        )
    if length is not None and length[0] < length[1]:
        return (
            f"the query has {length[0]} bases, shorter than the queries the calibration learned from "
            f"({length[1]}+): its confidence is unknown (a fragment? the best hit is in the table)"
        )
    if halves is not None and abs(halves[0] - halves[1]) > CHIMERA_SPLIT:
        return (
            f"the query's halves match its best hit at {halves[0]:.0%} and {halves[1]:.0%}: a chimera or a "
            "mixed read?"
        )
    if evidence_here is None:
        return ""  # the voting references carry no label at this rank: nothing to call, nothing to note
    if evidence_here.coverage < MIN_QUERY_COVERAGE:
        return f"the best hit covers {evidence_here.coverage:.1%} of the query; trim the query to its barcode"
    if rule is not None and evidence_here.identity < rule[0]:
        return (
            f"best identity {100 * evidence_here.identity:.2f}% < {100 * rule[0]:g}% (--thresholds; the candidate's "
            f"calibrated confidence, {rule[1]:.2f}, is not what this rule reads)"
        )
    return ""


def decided(row: Mapping, confidence: Mapping[str, float], min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> dict:
    """A query's calls, confidences, support, lineage, candidates and note from its candidates, their support
    and the reasons they cannot be called (`call`'s keys in `row`) at the candidates' `confidence` (NaN: none
    can be given), each decided as shown (4 decimals). A Linnaean rank is not called below one whose candidate
    was not called; where a rule other than the confidence decides (`--thresholds`), the confidence is shown
    but not read."""
    out: dict = {}
    notes, called, candidates = [], [], []
    blocked = ""
    for rank in CALL_RANKS:
        label, why, p = row[f"_candidate_{rank}"], row[f"_why_{rank}"], round(confidence[rank], 4)  # as shown
        if not why and label is not None and row["_by_confidence"] and p < min_confidence:
            why = f"confidence {p:.2f} < {min_confidence:g}"
        elif not why and label is not None and blocked and rank != "dna_bin":
            why = f"{blocked} is not called"
        if label is not None and why and rank != "dna_bin" and not blocked:
            blocked = rank
        out[rank] = None if why else label
        out[f"{rank}_confidence"] = p
        out[f"{rank}_support"] = row[f"{rank}_support"]
        out[f"_candidate_{rank}"] = label
        if rank in SINTAX_LETTERS and label is not None:
            candidates.append(f"{sintax(rank, label)}({'?' if math.isnan(p) else f'{p:.2f}'})")
            if not why:
                called.append(sintax(rank, label))
        if why and rank != "dna_bin":
            notes.append((rank, why, label))
    out["lineage"] = ",".join(called)
    out["candidates"] = ",".join(candidates)
    out["note"] = _note(*notes[0]) if notes else ""
    return out


def _note(rank: str, why: str, candidate: str | None) -> str:
    """The first uncalled rank, why, and its candidate: what a person reads before the columns."""
    note = f"no call at {rank}: {why}"
    if candidate:
        note += f" (best candidate {candidate})"
    return note + ("; possibly a species missing from the reference" if rank == "species" and candidate else "")


def photo_call(reference: Reference, hits: Sequence[Hit]) -> dict:
    """Neighbours vote; confidence = agreeing share shrunk towards 0 when few vote (`agree / (voters + 1)`)."""
    row: dict = {}
    called = []
    for rank in CALL_RANKS:
        label, agree, voters = reference.vote([h.key for h in hits], rank)
        row[rank] = label
        row[f"{rank}_confidence"] = round(agree / (voters + 1), 4) if label else 0.0
        row[f"{rank}_support"] = agree
        row[f"_candidate_{rank}"] = label
        if label and rank in SINTAX_LETTERS:
            called.append(sintax(rank, label))
    row["lineage"] = ",".join(called)
    row["candidates"] = ""
    row["note"] = ""
    return row
