"""Species confidences adapted to a plate's share of known species, on plates mixing known and unknown species.

`identify` estimates, from a plate's own species confidences, the share of its queries whose species the
reference holds (`calibration.plate_share`) and moves every species confidence to it (`adapted`). This
draws plates of 30 to 1,000 queries with 0% to 100% of known species from the unseen- and seen-species
queries of a `bench_identify.py` partition (its working folder: reference, queries and cached calibration),
identified once with `--per-query` (confidences as for one query alone), and reports per plate kind: the
estimated share against the true one, species calls at the default confidence (made, right) and the
species calibration error, before and after, as medians over 20 draws.

Beside it, how precisely one plate measures a calibration error at all: the unseen plate's order and genus
calibration errors with a 95% interval from resampling its species (queries of one species share their
nearest references, so they are not independent), and the error a model calibrated by construction would
show on the same plate (outcomes drawn from its own probabilities).

    BENCH_WORKDIR=/tmp/bench-identify python bench/bench_identify.py --skip-scale   # once: the partition
    BENCH_WORKDIR=/tmp/bench-identify python bench/bench_plate_share.py [--out bench/plate_share.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bioscan_hf.search.calibration import adapted, plate_share
from bioscan_hf.search.calls import read_candidates
from bioscan_hf.search.report import binned, calibration_error
from bioscan_hf.search.settings import DEFAULT_MIN_CONFIDENCE

HERE = Path(__file__).resolve().parent
SHARES = (0.0, 0.1, 0.33, 0.5, 0.9, 1.0)
SIZES = (1000, 300, 100, 30)
DRAWS = 20


def per_query(workdir: Path, plate: str, rank: str = "species") -> pd.DataFrame:
    """The plate's candidates at `rank`, confidences as for one query alone, whether right, and the query's
    true species."""
    out = workdir / f"{plate}.per_query.tsv"
    command = [
        *(sys.executable, "-m", "bioscan_hf.cli", "identify", str(workdir / f"{plate}.sintax.fasta")),
        *("--reference", str(workdir / "keys.sintax.fasta"), "--out", str(out), "--per-query", "--overwrite"),
        *("--num-proc", "2", "--quiet"),
    ]
    subprocess.run(command, check=True, env={**os.environ, "BIOSCAN_HF_CACHE": str(workdir / "cache")})
    return candidates(pd.read_csv(out, sep="\t", dtype=str, keep_default_na=False), rank)


def candidates(table: pd.DataFrame, rank: str) -> pd.DataFrame:
    """Each query's candidate at `rank` (from the `candidates` column), its confidence, whether it is right."""
    candidate = table["candidates"].map(lambda text: read_candidates(text).get(rank, (None,))[0])
    confidence = pd.to_numeric(table[f"{rank}_confidence"], errors="coerce")
    kept = candidate.notna() & confidence.notna()
    right = (candidate == table[f"true_{rank}"])[kept]
    return pd.DataFrame({"p": confidence[kept], "right": right, "species": table["true_species"][kept]})


def error(p: np.ndarray, right: np.ndarray) -> float:
    """The expected calibration error of confidences `p`, as identify's summary computes it."""
    return calibration_error(binned(pd.Series(p), pd.Series(right)))


def plates(unseen: pd.DataFrame, seen: pd.DataFrame, trained: float) -> list[dict]:
    """Per plate kind (size, share of known species): medians over draws of the estimate and the calls."""
    rng = np.random.default_rng(0)
    rows = []
    for share in SHARES:
        for size in SIZES:
            known = int(round(size * share))
            if known > len(seen) or size - known > len(unseen):
                continue
            draws = []
            for _ in range(DRAWS):
                drawn = pd.concat(
                    [
                        unseen.iloc[rng.choice(len(unseen), size - known, replace=False)],
                        seen.iloc[rng.choice(len(seen), known, replace=False)],
                    ]
                )
                p, right = drawn["p"].to_numpy(), drawn["right"].to_numpy()
                estimate = plate_share(p, trained)
                q = adapted(p, trained, estimate)
                draws.append([estimate, *_calls(p, right), *_calls(q, right)])
            median = np.nanmedian(np.array(draws, dtype=float), axis=0)
            names = ("estimate", "called_before", "right_before", "error_before", "called", "right", "error")
            rows.append({"queries": size, "known_share": share, **dict(zip(names, map(float, median.round(4))))})
    return rows


def measured_error(found: pd.DataFrame, draws: int = 500) -> dict:
    """A plate's calibration error, its 95% interval over resampled species, and the median error of outcomes
    drawn from the confidences themselves (a model calibrated by construction)."""
    rng = np.random.default_rng(0)
    p, right = found["p"].to_numpy(), found["right"].to_numpy()
    members = [np.flatnonzero(found["species"].to_numpy() == s) for s in found["species"].unique()]
    resampled = [
        error(p[idx], right[idx])
        for idx in (
            np.concatenate([members[i] for i in rng.integers(len(members), size=len(members))]) for _ in range(draws)
        )
    ]
    drawn = [error(p, rng.random(len(p)) < p) for _ in range(draws)]
    return {
        "species": len(members),
        "error": round(error(p, right), 4),
        "interval": [round(float(q), 4) for q in np.quantile(resampled, [0.025, 0.975])],
        "calibrated_by_construction": round(float(np.median(drawn)), 4),
    }


def _calls(p: np.ndarray, right: np.ndarray) -> tuple[float, float, float]:
    called = p >= DEFAULT_MIN_CONFIDENCE
    return called.mean(), right[called].mean() if called.any() else np.nan, error(p, right)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(HERE / "plate_share.json"))
    args = parser.parse_args()
    workdir = Path(os.environ["BENCH_WORKDIR"])
    from bioscan_hf.search.calibration import Calibration

    report = {}
    for kind in ("", "_amplicon"):
        unseen, seen = per_query(workdir, f"unseen{kind}"), per_query(workdir, f"seen{kind}")
        provenance = json.loads((workdir / f"unseen{kind}.per_query.provenance.json").read_text())
        fitted = next((workdir / "cache" / "calibration").glob(f"{provenance['reference_records']}-*.skops"))
        trained = Calibration.load(fitted).trained_share("species", short=bool(kind))
        name = kind.strip("_") or "full_length"
        report[name] = {"trained_share": round(trained, 4), "plates": plates(unseen, seen, trained)}
        for row in report[name]["plates"]:
            print(name, json.dumps(row), flush=True)
    plate = pd.read_csv(workdir / "unseen.per_query.tsv", sep="\t", dtype=str, keep_default_na=False)
    report["unseen_plate_errors"] = {rank: measured_error(candidates(plate, rank)) for rank in ("order", "genus")}
    print("unseen_plate_errors", json.dumps(report["unseen_plate_errors"]), flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
