"""Fitting a calibration on the reference itself, PROTAX-style: hold queries out of the reference, identify
them against the rest with the same engine, and learn how often each rank's candidate is right.

Kinds of held-out queries, in `HELD_OUT_SHARES`: whole species (their records all leave the reference:
the species-level "unknown taxon" case of BIOSCAN-5M's unseen splits), whole genera, families and orders
(the same higher up: a query whose order the library lacks still finds hits at 80–90% identity, COI
being conserved, and must not be called to any rank) and single records (a specimen of a species the
reference has). Species are drawn from genera with another species left in the reference, genera from
families with another genus left, families from orders with another family, orders from libraries of two
or more. Every eligible species and genus is held out in one of `FOLDS` folds (so a fold lacks a quarter
of them, as BIOSCAN-5M's unseen splits lack theirs); families and orders are spread over the folds too; each
fold is identified against the reference without its groups (its own seed index), queries drawn uniformly
from the held-out records. Each held-out query is identified a second time cut to a window of
`calibration.WINDOW` bases at a random place (`_window`): what the short-query models are fitted on.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bioscan_hf.core.barcodes import UNKNOWN, barcode_length, clean_barcode
from bioscan_hf.core.console import progress_bar
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.outputs import OutputFile, check_all, write_atomically
from bioscan_hf.core.paths import cache_dir, user_path
from bioscan_hf.data.schema import CALL_RANKS, LINEAGE_RANKS
from bioscan_hf.data.sources import Problems, Query, write_skipped
from bioscan_hf.search.calibration import FEATURES, FORMAT, WINDOW, Calibration, fit
from bioscan_hf.search.calls import Evidence, rank_evidence
from bioscan_hf.search.engine import Identifier
from bioscan_hf.search.references import Reference, read_library
from bioscan_hf.search.settings import CalibrateSettings

#: Shares of the held-out queries by kind.
HELD_OUT_SHARES = {"species": 0.45, "genus": 0.0, "family": 0.0, "order": 0.1, "record": 0.45}
FOLDS = 8


def reference_digest(table: pd.DataFrame) -> str:
    """A digest of a reference table's content (what a calibration fitted on it is valid for)."""
    records = pd.util.hash_pandas_object(table.astype(str), index=False).to_numpy().tobytes()
    return hashlib.sha256(records).hexdigest()[:16]


def _groups(table: pd.DataFrame, rank: str, parent: str | None, rng: np.random.Generator) -> list[str]:
    """Labels at `rank` whose `parent` (None: the whole library) holds another label at `rank`, shuffled."""
    labelled = table.dropna(subset=[rank] if parent is None else [rank, parent])
    if parent is None:
        names = sorted(labelled[rank].unique()) if labelled[rank].nunique() >= 2 else []
        return list(rng.permutation(names)) if names else []
    siblings = labelled.groupby(parent)[rank].nunique()
    names = sorted(labelled.loc[labelled[parent].map(siblings) >= 2, rank].unique())
    return list(rng.permutation(names)) if names else []


def held_out_folds(table: pd.DataFrame, queries: int, seed: int = 0) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Per fold: the reference rows removed, and the query rows by kind. Every eligible group is held out
    in one fold (so each fold removes 1/FOLDS of them); queries are drawn uniformly from their records."""
    rng = np.random.default_rng(seed)
    by_kind: list[dict[str, np.ndarray]] = [{} for _ in range(FOLDS)]
    # orders and families apart from species and genera: a species may leave in another fold than its order
    higher = _hold_out_groups(table, (("order", None), ("family", "order")), queries, rng, by_kind, nested=False)
    removed = _hold_out_groups(table, (("genus", "family"), ("species", "genus")), queries, rng, by_kind, nested=True)
    # single records: from any species the fold keeps (drawn only from species never held out, they were
    # all of genera with one species, whose nearest other species is far: a biased sample of known species)
    order = rng.permutation(len(table))
    budget, drawn = int(queries * HELD_OUT_SHARES["record"] / FOLDS), np.zeros(len(table), dtype=bool)
    for fold in range(FOLDS):
        blocked = drawn.copy()
        blocked[list(removed[fold] | higher[fold])] = True
        kept = order[~blocked[order]]
        mine = kept[: min(budget, len(kept) // 2)]
        drawn[mine] = True
        by_kind[fold]["record"] = mine
        removed[fold].update(mine.tolist())
        removed[fold].update(higher[fold])
    return [(np.array(sorted(r), dtype=np.int64), k) for r, k in zip(removed, by_kind)]


def _hold_out_groups(
    table: pd.DataFrame,
    levels: tuple[tuple[str, str | None], ...],
    queries: int,
    rng: np.random.Generator,
    by_kind: list[dict[str, np.ndarray]],
    nested: bool,
) -> list[set[int]]:
    """Hold every eligible group of each (rank, parent) level out of one fold, drawing that rank's share of
    the queries (`HELD_OUT_SHARES`) from their records into `by_kind`; the rows removed per fold.
    `nested=True`: a group inside one this call already held out (in any fold) is passed over."""
    removed: list[set[int]] = [set() for _ in range(FOLDS)]
    for rank, parent in levels:
        budget = int(queries * HELD_OUT_SHARES[rank] / FOLDS)
        pools: list[list[int]] = [[] for _ in range(FOLDS)]
        if budget:
            for number, name in enumerate(_groups(table, rank, parent, rng)):
                rows = np.flatnonzero((table[rank] == name).to_numpy()).tolist()
                if nested and any(removed[f].intersection(rows) for f in range(FOLDS)):
                    continue  # inside a group already held out
                removed[number % FOLDS].update(rows)
                pools[number % FOLDS] += rows
        for fold, pool in enumerate(pools):
            by_kind[fold][rank] = rng.choice(pool, min(budget, len(pool)), replace=False) if pool else np.zeros(0, int)
    return removed


def calibrate(
    table: pd.DataFrame,
    settings: CalibrateSettings | None = None,
    *,
    progress: bool = True,
    identifier: Callable[[Reference], Identifier] | None = None,
    **overrides,
) -> Calibration:
    """Fit a calibration on `table` (a reference table, `REFERENCE_COLUMNS`) by held-out identification
    (`settings`, or its fields as keywords; `identifier`: as `held_out_evidence`)."""
    settings = CalibrateSettings.given(settings, **overrides)
    full, short, counts, lengths = held_out_evidence(table, settings, progress=progress, identifier=identifier)
    features, right, groups = full.arrays()
    return fit(
        features,
        right,
        groups=groups,
        lengths=lengths,
        short=short.arrays(),
        fitted_on=f"reference {reference_digest(table)} ({len(table):,} records)",
        held_out=counts,
    )


@dataclass
class Examples:
    """Held-out queries' evidence per rank: features, candidate orders, and whether the candidate was right."""

    features: dict[str, list] = field(default_factory=lambda: {rank: [] for rank in CALL_RANKS})
    groups: dict[str, list[str | None]] = field(default_factory=lambda: {rank: [] for rank in CALL_RANKS})
    right: dict[str, list[bool]] = field(default_factory=lambda: {rank: [] for rank in CALL_RANKS})

    def add(self, query: Query, found: dict[str, Evidence | None], present: dict[str, set]) -> None:
        """A query's evidence at each rank it can teach: a candidate, a true label, and every rank above in
        the fold's reference (`_parents_present`)."""
        for rank, evidence in found.items():
            if evidence is not None and query.truth[rank] is not None and _parents_present(query, rank, present):
                self.features[rank].append(evidence.features())
                self.groups[rank].append(evidence.group)
                self.right[rank].append(evidence.label == query.truth[rank])

    def arrays(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, list[str | None]]]:
        """Features, correctness and groups per rank, as `calibration.fit` takes them."""
        features = {
            rank: np.asarray(x, dtype=np.float64).reshape(-1, len(FEATURES)) for rank, x in self.features.items()
        }
        right = {rank: np.asarray(y, dtype=bool) for rank, y in self.right.items()}
        return features, right, self.groups


def held_out_evidence(
    table: pd.DataFrame,
    settings: CalibrateSettings,
    *,
    progress: bool = True,
    identifier: Callable[[Reference], Identifier] | None = None,
) -> tuple[Examples, Examples, dict[str, int], list[int]]:
    """The evidence of held-out queries as they are, and cut to windows (`_window`); the held-out queries per
    kind; and every held-out query's length (bases). Each fold searches the library's one seed index with its
    held-out barcodes hidden (`Reference.subset`). `identifier`: how to build the engine for a fold (default:
    seeds and alignment with the settings' candidates, in its processes)."""
    candidates, num_proc = settings.candidates, settings.num_proc
    build = identifier or (
        lambda reference: Identifier(reference, candidates=candidates, num_proc=num_proc, strand="plus")
    )  # held-out records are references, all on the library's strand
    full, short = Examples(), Examples()
    counts = {kind: 0 for kind in HELD_OUT_SHARES}
    lengths: list[int] = []
    folds = held_out_folds(table, settings.queries, settings.seed)
    library = Reference(table)  # its seed index serves every fold (`Reference.subset`)
    rng = np.random.default_rng(settings.seed)
    bar = progress_bar(
        total=sum(sum(len(v) for v in q.values()) for _, q in folds),
        desc="calibrating",
        unit="query",
        disable=not progress,
    )
    for removed, by_kind in folds:
        rows = np.concatenate(list(by_kind.values()))
        if not len(rows):
            continue
        kept = np.setdiff1d(np.arange(len(table)), removed)
        engine = build(library.subset(kept))
        batch = [_query(table, int(row)) for row in rows]
        windows = [_window(query, rng) for query in batch]
        try:
            hits_of = engine.hits(batch + windows)
        finally:
            engine.close()
        present = {rank: set(engine.reference.table[rank].dropna()) for rank in LINEAGE_RANKS}
        for query, window in zip(batch, windows):
            lengths.append(barcode_length(query.sequence))
            for examples, asked in ((full, query), (short, window)):
                examples.add(asked, rank_evidence(engine.reference, hits_of[asked.sequence], engine.margin), present)
        for kind, kind_rows in by_kind.items():
            counts[kind] += len(kind_rows)
        bar.update(len(rows))
    bar.close()
    return full, short, counts, lengths


def _window(query: Query, rng: np.random.Generator) -> Query:
    """The query cut to `WINDOW` bases (drawn uniformly; all of it where shorter) at a uniform place: a short
    amplicon or partial read of it."""
    bases = clean_barcode(query.sequence).strip(UNKNOWN)
    size = int(rng.integers(WINDOW[0], WINDOW[1] + 1))
    start = int(rng.integers(0, max(len(bases) - size, 0) + 1))
    return Query(f"{query.id}:{start}", sequence=bases[start : start + size], truth=query.truth)


def _parents_present(query: Query, rank: str, present: dict[str, set]) -> bool:
    """Whether every Linnaean rank above `rank` of the query's own lineage is in the fold's reference.

    Each rank's model learns how often its candidate is right *given its parent is there*: a call at a rank
    needs every rank above called first (`calls.call`), so a query whose order the library lacks is stopped
    by the order's model, which alone sees those queries, and the genus model's confidence is not lowered
    for every unseen species by queries it will never be asked about."""
    above = LINEAGE_RANKS[: LINEAGE_RANKS.index(rank)] if rank in LINEAGE_RANKS else ()
    return all(query.truth[parent] is None or query.truth[parent] in present[parent] for parent in above)


def _query(table: pd.DataFrame, row: int) -> Query:
    record = table.iloc[row]
    return Query(str(record["processid"]), sequence=record["dna_barcode"], truth={r: record[r] for r in CALL_RANKS})


def cached_calibration(
    table: pd.DataFrame,
    settings: CalibrateSettings | None = None,
    *,
    progress: bool = True,
    digest: str | None = None,
    **overrides,
) -> Calibration:
    """`calibrate(table, settings)`, fitted once per reference content and settings and kept in
    bioscan-hf's cache folder (`core.paths.cache_dir`) as `calibration/<digest>-<settings>.skops`
    (`digest`: the table's `reference_digest`, where the caller has it already)."""
    settings = CalibrateSettings.given(settings, **overrides)
    digest = digest or reference_digest(table)
    path = cache_dir() / "calibration" / f"{digest}-{settings.fit_key()}-format{FORMAT}.skops"
    if path.is_file():
        return Calibration.load(path)
    calibration = calibrate(table, settings, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, calibration.save)  # several processes may fit it at once: each writes whole
    return calibration


def calibrate_reference(
    reference: str | os.PathLike,
    out: str | os.PathLike,
    settings: CalibrateSettings | None = None,
    *,
    progress: bool = True,
    **overrides,
) -> Calibration:
    """`bioscan-hf calibrate`: fit a calibration on a reference library and write it to `out` (replacing
    only a calibration file, or anything with `overwrite`, and only by the complete new file)."""
    settings = CalibrateSettings.given(settings, **overrides)
    out = user_path(out)
    target = OutputFile(out, "calibrate", overwrite=settings.overwrite, ours=out.is_file() and _is_calibration(out))
    check_all([target, target.companion("skipped", ".tsv")])  # the skipped list beside it: under the same rule
    problems = Problems(skip=settings.skip_bad)
    table, _ = read_library(reference, settings, problems)
    calibration = calibrate(table, settings, progress=progress)
    target.write(calibration.save)
    write_skipped(target.path, problems)
    return calibration


def _is_calibration(path: Path) -> bool:
    try:
        Calibration.load(path)
    except InputError:
        return False
    return True
