"""The probability that a rank's candidate is right, learned from held-out references.

Per rank, a gradient-boosted classifier (scikit-learn's `HistGradientBoostingClassifier`) over what the
hits say (`FEATURES`: best identity, the share of the query the best hit covers, the share and number of
voting records that agree, the gap to the best hit with another label, the best identity less the
candidate's loosest sibling identity: `search.spread`) and the candidate's order, a
category of its own where the held-out queries hold enough of it (`MIN_GROUP`: orders differ, e.g. how
often an unseen species' nearest congener names its genus). On the real BOLD file it ranked
unseen species' genus calls far better than a logistic regression (97% accurate at 86% coverage against
78%) and was better calibrated (BENCHMARKS.md). Saved with skops, whose loader refuses any type but
these models' (a calibration file from elsewhere cannot run code); what it read is kept in the cache folder
for later runs (`Calibration.load`: skops' loader costs seconds to start). Fitted by
`bioscan_hf.search.held_out` on queries held out of the reference itself; a rank the reference cannot
calibrate (too few held-out queries, or none right or none wrong) uses the model fitted on the real BOLD
file shipped with the package (`DEFAULT_FILE`), and the file says which ranks did. Short queries (amplicons,
partial reads) have models of their own (`Calibration.short`), fitted on the same held-out queries cut to
windows of `WINDOW` bases: a best hit over 200 bases says far less than one over 658.

A model's probabilities hold for queries mixed as its held-out queries were: at species, about half of them of
species the reference holds. A plate mixes its own (all unseen species, or all known), and no single query
tells which. `plate_share` estimates the plate's share from the plate's own probabilities (EM, Saerens,
Latinne & Decaestecker 2002, "Adjusting the outputs of a classifier to new a priori probabilities") and
`adapted` moves each probability to it by Bayes' rule; `identify` does so at species, where a candidate is
right exactly when the query's species is in the reference, and at order, where it is so when its order is
(`ADAPTED_RANKS`; BENCHMARKS.md: measured on two partitions and on plates of 30 to 1,000 queries mixing known
and unknown species).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bioscan_hf.core.errors import InputError
from bioscan_hf.core.outputs import write_atomically
from bioscan_hf.core.paths import cache_dir, hash_file

FEATURES = ("identity", "coverage", "agreement", "support", "voters", "gap", "inside")
#: The calibration fitted on the real BOLD file (`python bench/bench_identify.py --write-default`).
if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

DEFAULT_FILE = Path(__file__).with_name("bold_calibration.skops")
#: Fewer held-out queries than this (or no wrong or no right one) and a rank takes the default's model.
MIN_EXAMPLES = 200
#: An order gets its own category in a rank's model from this many held-out queries.
MIN_GROUP = 300
#: Columns of `design`'s output (the last one the order's category).
DESIGN_COLUMNS = 10
#: How each of `design`'s columns may move the probability (+1 never lowers it, −1 never raises it, 0 free): a
#: candidate never gains confidence as its identity or the share of the query it covers falls, or as it lies
#: farther outside its candidate's own spread. (Constraining agreement, support and the gap too cost 6 points
#: of genus coverage on unseen species and changed nothing on noise.)
MONOTONE = [1, -1, 1, 0, 0, 0, 0, 0, 1, 0]
FORMAT = 6
#: The ranks whose probabilities `identify` adapts to the plate (`plate_share`, `adapted`): those where a candidate
#: is right exactly when the query's own label at that rank is in the reference (species, less sister species
#: sharing barcodes; orders, which lie far apart), so that the plate's share of known labels is the only thing
#: its mix changes. Not genus or family: there a candidate of a known label may be wrong too (an unseen species'
#: nearest congener in another genus), and on unseen-species plates the EM moved genus confidences the wrong way
#: (BENCHMARKS.md).
ADAPTED_RANKS = ("order", "species")
#: A plate's share of right candidates (`plate_share`) starts from this many pseudo-queries at the model's own
#: share: a plate of a few queries moves it little, one of hundreds sets it.
PLATE_PSEUDO_QUERIES = 20
#: A query shorter than this share of the held-out queries, or than `PARTIAL_READ` of their median length,
#: whichever is shorter (`Calibration.min_length`), takes the short-query models: the full-length models
#: learned on barcodes of the library's length, and a short amplicon's best hit over 200 bases is far less
#: telling (on the real BOLD file, they called the genus of unseen species' 200-base 5′ ends at ≥ 0.9, 77%
#: right).
LENGTH_QUANTILE = 0.01
#: ... while a partial read of most of a barcode is called in a library whose barcodes all have one length.
PARTIAL_READ = 2 / 3
#: The lengths (bases) of the windows the short-query models are fitted on, drawn uniformly, each at a
#: uniform place in its barcode (metabarcoding amplicons are ~150–450 bases); a query shorter than the
#: shortest is not called at all.
WINDOW = (150, 450)
#: The only types a calibration file may hold besides plain data (skops refuses others).
TRUSTED_TYPES = [
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # the categorical column's encoder keeps `partial(check_array, …)`: a partial of any other function is
    # still refused, since skops checks the function it wraps by name
    "functools.partial",
    "sklearn.utils.validation.check_array",
]


def design(features: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The classifier's inputs from raw `FEATURES` rows and group codes (the last column, categorical):
    identities and gaps on a log scale too, where a point of identity near 100% means more than one near
    90%."""
    identity, coverage, agreement, support, voters, gap, inside = (
        np.asarray(features, dtype=np.float64).reshape(-1, len(FEATURES)).T
    )
    return np.column_stack(
        [
            identity,
            np.log(1.0005 - np.minimum(identity, 1.0)),
            coverage,
            agreement,
            np.log1p(support),
            np.log1p(voters),
            gap,
            np.log(gap + 0.002),
            inside,  # NaN where the candidate has one subgroup: the trees learn where those go
            np.asarray(groups, dtype=np.float64),
        ]
    )


@cache
def _openmp():
    """threadpoolctl's view of the loaded thread pools, found once (each `threadpool_limits` looks again:
    ~5 ms)."""
    from threadpoolctl import ThreadpoolController  # with scikit-learn, which needs it

    return ThreadpoolController()


@dataclass
class RankModel:
    """One rank's classifier, the orders it tells apart, and the held-out queries it was fitted on."""

    model: HistGradientBoostingClassifier
    examples: int
    right: int
    #: orders with their own category (at least `MIN_GROUP` held-out queries); the rest share one
    groups: list[str] = field(default_factory=list)
    #: the lowest best-hit identity among the held-out queries fitted on: a tree model is flat outside its
    #: data, which is no probability, so nothing is called below it (random DNA aligns at ~50–60% identity,
    #: insect COI at 70% or more; a 0.5% quantile instead cut unseen species' calls by 7 points)
    min_identity: float = 0.0

    @classmethod
    def fit(cls, features: np.ndarray, right: np.ndarray, groups: Sequence[str | None]) -> RankModel:
        """Fit on held-out queries' features, candidate orders and whether their candidate was right
        (monotone in what should only ever raise confidence: `MONOTONE`)."""
        counts = Counter(g for g in groups if g is not None)
        kept = sorted(g for g, n in counts.items() if n >= MIN_GROUP)
        from sklearn.ensemble import HistGradientBoostingClassifier  # here: seconds to import

        model = HistGradientBoostingClassifier(
            max_iter=100,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            categorical_features=[DESIGN_COLUMNS - 1],
            monotonic_cst=MONOTONE,
            random_state=0,
        )
        fitted = cls(model, len(right), int(right.sum()), kept, float(features[:, 0].min()))
        inputs = design(features, fitted.codes(groups))
        inside = DESIGN_COLUMNS - 2
        if np.isnan(inputs[:, inside]).all():  # no spread at this rank (species) or in this library: never split on
            inputs[:, inside] = 0.0
        model.fit(inputs, right)
        return fitted

    def codes(self, groups: Sequence[str | None]) -> np.ndarray:
        """Category codes of candidate orders (unknown or rare orders: one shared code)."""
        index = {g: i for i, g in enumerate(self.groups)}
        return np.array([index.get(g, len(self.groups)) for g in groups], dtype=np.float64)

    def predict(self, features: np.ndarray, groups: Sequence[str | None]) -> np.ndarray:
        """Probabilities that the candidates are right; 0 below the identities fitted on (`min_identity`).
        On one OpenMP thread: a plate's chunk is a few hundred rows, and while `identify`'s worker processes
        hold every core, each of scikit-learn's parallel regions waited for a thread the system had not
        scheduled (~4 ms a tree, 6 s of the main process on the seen plate: BENCHMARKS.md)."""
        with _openmp().limit(limits=1, user_api="openmp"):
            probabilities = self.model.predict_proba(design(features, self.codes(groups)))[:, 1]
        return np.where(features[:, 0] >= self.min_identity, probabilities, 0.0)


@dataclass
class Calibration:
    """Per-rank models, and what they were fitted on."""

    ranks: dict[str, RankModel]
    fitted_on: str
    #: rank → why it uses the default's model instead of one of its own
    borrowed: dict[str, str] = field(default_factory=dict)
    #: held-out queries per kind (species, genus, record) the fit used
    held_out: dict[str, int] = field(default_factory=dict)
    #: the length (bases) that all but `LENGTH_QUANTILE` of the held-out queries reach (at most
    #: `PARTIAL_READ` of their median): shorter queries take the `short` models
    min_length: int = 0
    #: per rank, the model fitted on held-out queries cut to `WINDOW`s (for queries under `min_length`)
    short: dict[str, RankModel] = field(default_factory=dict)

    def trained_share(self, rank: str, short: bool = False) -> float | None:
        """The share of right candidates among the held-out queries `rank`'s model was fitted on (None:
        no model): what its probabilities assume of a plate (`adapted`)."""
        model = (self.short if short else self.ranks).get(rank)
        return model.right / model.examples if model is not None else None

    def shortest(self) -> int:
        """The fewest bases a query may have and be called: the shortest window the short models saw (the
        full-length models' `min_length` where there are none)."""
        return min(WINDOW[0], self.min_length) if self.short else self.min_length

    def probabilities(self, rank: str, evidence: list, short: bool = False) -> np.ndarray:
        """The probability that each candidate (`calls.Evidence`) at `rank` is right (`short`: of queries
        under `min_length`, by the short-query models)."""
        model = (self.short if short else self.ranks).get(rank)
        if model is None:
            return np.zeros(len(evidence))
        return model.predict(
            np.asarray([e.features() for e in evidence], dtype=np.float64), [e.group for e in evidence]
        )

    def floor(self) -> float:
        """The lowest best-hit identity any rank's model was fitted on: below it nothing is called, and
        a query there is unlike every barcode of the library (random DNA aligns at ~50–60%)."""
        return min((model.min_identity for model in self.ranks.values()), default=0.0)

    def report(self) -> str:
        """Lines for people: what it was fitted on and, per rank, how many held-out queries and how right."""
        kinds = {
            "species": "of held-out species",
            "genus": "of held-out genera",
            "family": "of held-out families",
            "order": "of held-out orders",
            "record": "held out alone",
        }
        held = ", ".join(f"{n:,} {kinds.get(kind, kind)}" for kind, n in self.held_out.items() if n)
        lines = [f"calibration fitted on {self.fitted_on}" + (f"; held-out queries: {held}" if held else "")]
        if self.min_length:
            short = f"  queries shorter than {self.min_length} bases (than 99% of the held-out ones, or 2/3 of most)"
            if self.short:
                short += f" take models fitted on held-out queries cut to {WINDOW[0]}–{WINDOW[1]} bases"
                lines.append(short + f"; queries under {self.shortest()} bases are not called")
            else:
                lines.append(short + " are not called")
        models = [*self.ranks.items(), *((f"{rank} (short queries)", m) for rank, m in self.short.items())]
        for rank, model in models:
            right = f"{model.right / model.examples:.1%} right"
            if rank in self.borrowed:  # counted in the default's fit, not in the held-out queries above
                lines.append(
                    f"  {rank}: the default's model ({self.borrowed[rank]}); it was fitted on {model.examples:,} "
                    f"held-out queries of the real BOLD file, {right}"
                )
            else:
                lines.append(f"  {rank}: fitted on {model.examples:,} of the held-out queries above, {right}")
        return "\n".join(lines)

    def save(self, path: str | os.PathLike) -> None:
        """Write a skops file (a zip of the models' numbers, read back by `load`), and keep these models for
        `load` as if it had read them (`_keep`)."""
        import skops.io

        skops.io.dump(
            {
                "format": FORMAT,
                "features": list(FEATURES),
                "fitted_on": self.fitted_on,
                "held_out": self.held_out,
                "borrowed": self.borrowed,
                "min_length": self.min_length,
                "ranks": {rank: _saved(model) for rank, model in self.ranks.items()},
                "short": {rank: _saved(model) for rank, model in self.short.items()},
            },
            path,
            compression=zipfile.ZIP_DEFLATED,
            compresslevel=9,
        )
        _keep(self, _kept_path(Path(path)))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Calibration:
        """Read a calibration file; a damaged one, or one holding anything but these models, is an
        `InputError` naming it and what to do. Read once by skops' checked loader, a file's models are kept
        in the cache folder (`_kept_path`) and read from there by later runs."""
        kept = _kept_path(Path(path))
        try:
            found = pickle.loads(kept.read_bytes()) if kept is not None and kept.is_file() else None
        except Exception:  # damaged, or written by other versions than the key says: read the file again
            found = None
        if isinstance(found, cls):
            return found
        calibration = cls._checked(path)
        _keep(calibration, kept)
        return calibration

    @classmethod
    def _checked(cls, path: str | os.PathLike) -> Calibration:
        """The calibration in a skops file, read by skops' loader, which refuses every type but these models'."""
        try:
            import skops.io

            data = skops.io.load(path, trusted=TRUSTED_TYPES)
            if data.get("format") != FORMAT or list(data["features"]) != list(FEATURES):
                raise InputError(f"format {data.get('format')!r}, features {data.get('features')!r}")
            ranks = {rank: RankModel(**model) for rank, model in data["ranks"].items()}
            short = {rank: RankModel(**model) for rank, model in data["short"].items()}
        except Exception as err:  # zipfile, json and skops' own untrusted-type errors
            reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise InputError(
                f"{path}: not a calibration this version reads ({reason}); fit it again with "
                "`bioscan-hf calibrate REFERENCE --out FILE`"
            ) from None
        return cls(ranks, data["fitted_on"], data["borrowed"], data["held_out"], int(data["min_length"]), short)


def _keep(calibration: Calibration, kept: Path | None) -> None:
    """Keep `calibration` at `kept` (`_kept_path` of the file it was read from or written to), where
    `Calibration.load` looks first."""
    if kept is None:
        return
    try:
        write_atomically(kept, lambda partial: partial.write_bytes(pickle.dumps(calibration, protocol=5)))
    except OSError:  # a cache folder that cannot be written: the next run reads the file again
        pass


def _kept_path(path: Path) -> Path | None:
    """Where a calibration file's models are kept once skops has checked them: the cache folder, named by
    the file's content and the versions of bioscan-hf and scikit-learn that read it (None: the file cannot
    be read, and `Calibration._checked` says so). skops' loader imports every scikit-learn estimator (and,
    through scikit-learn, torch) to list the types it trusts: ~4 s of every run against ~1 s to read the
    kept copy. Only models skops accepted are kept, in the user's own cache folder."""
    digest = hashlib.sha256(f"{version('bioscan-hf')} {version('scikit-learn')} {FORMAT}\n".encode())
    try:
        hash_file(digest, path)
    except OSError:
        return None
    return cache_dir() / "calibration" / "checked" / f"{digest.hexdigest()[:32]}.pickle"


def adapted(probabilities: np.ndarray, trained: np.ndarray | float, share: float) -> np.ndarray:
    """Probabilities of a model whose held-out queries had a share `trained` of right candidates, for a plate
    where that share is `share`: each one's odds scaled by the ratio of the two shares' odds (Bayes' rule;
    0 and 1 stay 0 and 1, and the order of the probabilities is kept)."""
    p = np.asarray(probabilities, dtype=np.float64)
    right = share / np.asarray(trained, dtype=np.float64) * p
    wrong = (1.0 - share) / (1.0 - np.asarray(trained, dtype=np.float64)) * (1.0 - p)
    total = right + wrong
    return np.divide(right, total, out=np.zeros_like(total), where=total > 0)


def plate_share(probabilities: np.ndarray, trained: np.ndarray | float, pseudo: float = PLATE_PSEUDO_QUERIES) -> float:
    """The share of a plate's candidates that are right, estimated from their probabilities (each from a
    model whose held-out share was `trained`): the fixed point of the EM of Saerens et al. (2002), shrunk
    towards the models' own share by `pseudo` pseudo-queries (one query cannot set it). The fixed point is
    unique (the maximum of a concave posterior) and found by Brent's method: EM's own steps crawl where the
    probabilities say little."""
    from scipy.optimize import brentq  # here: only a finished run needs it

    p = np.asarray(probabilities, dtype=np.float64)
    start = float(np.mean(trained))
    trained = np.broadcast_to(np.asarray(trained, dtype=np.float64), p.shape)

    def step(share: float) -> float:  # EM's update less its input: > 0 below the fixed point, < 0 above
        return (adapted(p, trained, share).sum() + pseudo * start) / (len(p) + pseudo) - share

    return float(brentq(step, 0.0, 1.0, xtol=1e-10))


def _saved(model: RankModel) -> dict:
    """A rank's model as plain data and the classifier (what `Calibration.load` reads back)."""
    return {
        "model": model.model,
        "examples": model.examples,
        "right": model.right,
        "groups": model.groups,
        "min_identity": model.min_identity,
    }


@cache
def default_calibration() -> Calibration:
    """The calibration fitted on the real BOLD file (package data)."""
    return Calibration.load(DEFAULT_FILE)


def fit(
    features: dict[str, np.ndarray],
    right: dict[str, np.ndarray],
    fitted_on: str,
    held_out: dict,
    groups: dict[str, list[str | None]] | None = None,
    lengths: Sequence[int] = (),
    short: tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, list[str | None]]] | None = None,
) -> Calibration:
    """A calibration from held-out queries' features, candidate orders and correctness per rank, and their
    `lengths` (bases: what `min_length` is read from); `short`: the same three for the held-out queries cut
    to `WINDOW`s. Ranks with too few examples, or without both outcomes, borrow the default's model."""
    ranks, borrowed = _fit_ranks(features, right, groups or {}, "ranks")
    short_ranks, short_borrowed = _fit_ranks(*(short or ({}, {}, {})), "short")
    borrowed.update({f"{rank} (short queries)": why for rank, why in short_borrowed.items()})
    shortest = min(np.quantile(lengths, LENGTH_QUANTILE), PARTIAL_READ * np.median(lengths)) if len(lengths) else 0
    return Calibration(ranks, fitted_on, borrowed, held_out, int(shortest), short_ranks)


def _fit_ranks(
    features: dict[str, np.ndarray], right: dict[str, np.ndarray], groups: dict[str, list[str | None]], which: str
) -> tuple[dict[str, RankModel], dict[str, str]]:
    """Per rank, a model fitted on its examples or else the default calibration's (`which`: its "ranks" or
    "short" models), and why each borrowing rank borrowed."""
    ranks, borrowed = {}, {}
    for rank, x in features.items():
        y = right[rank]
        if len(y) >= MIN_EXAMPLES and 0 < y.sum() < len(y):
            ranks[rank] = RankModel.fit(x, y, groups.get(rank) or [None] * len(y))
            continue
        why = "too few to calibrate" if len(y) < MIN_EXAMPLES else "no wrong one to calibrate against"
        if len(y) >= MIN_EXAMPLES and not y.sum():
            why = "no right one to calibrate against"
        borrowed[rank] = f"{len(y)} held-out queries, {int(y.sum())} right: {why}"
        if DEFAULT_FILE.is_file():
            default = getattr(default_calibration(), which).get(rank)
            if default is not None:
                ranks[rank] = default
    return ranks, borrowed
