"""Records to leave out of a release (`prepare` / `import-bold --exclude`) or of an identification's
reference (`identify --exclude`): the suspects table written by `bioscan-hf audit`, read with a score floor.
Importing this module imports no pandas (the commands' settings name its option texts)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from bioscan_hf.core.errors import InputError, MissingFileError
from bioscan_hf.core.paths import user_path

if TYPE_CHECKING:
    import pandas as pd

#: Suspects scoring at least this are left out unless told otherwise (`--exclude-min-score`).
EXCLUDE_MIN_SCORE = 0.5
EXCLUDE_MIN_SCORE_HELP = f"with --exclude: only suspects scoring at least this (default {EXCLUDE_MIN_SCORE})"


def read_suspects(path: str | os.PathLike, min_score: float = 0.0) -> pd.DataFrame:
    """The suspects of a table written by `bioscan-hf audit` (TSV, CSV or Parquet) with a score of at least
    `min_score`: processid, category, score. A file that is not a suspects table, or a row without a
    processid or with a score that is not a number in [0, 1], is an `InputError` naming file and line."""
    import pandas as pd

    path = user_path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such suspects file (write one with bioscan-hf audit)")
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, sep="," if path.suffix == ".csv" else "\t", dtype=str, keep_default_na=False)
    except (ValueError, OSError) as err:
        raise InputError(
            f"{path}: not a readable suspects table ({err}); give the file bioscan-hf audit wrote"
        ) from None
    missing = [c for c in ("processid", "category", "score") if c not in table.columns]
    if missing:
        raise InputError(
            f"{path}: not a suspects table of bioscan-hf audit (no {', '.join(missing)} column); "
            "give the file bioscan-hf audit wrote"
        )
    scores = pd.to_numeric(table["score"], errors="coerce")
    for number, (pid, score, raw) in enumerate(zip(table["processid"], scores, table["score"]), start=2):
        if not str(pid).strip():
            raise InputError(f"{path} line {number}: no processid; fix or remove the line")
        if pd.isna(score) or not 0 <= score <= 1:
            raise InputError(f"{path} line {number} ({pid}): score {raw!r} is not a number in [0, 1]; fix the line")
    table = table.assign(score=scores)
    return table.loc[table["score"] >= min_score, ["processid", "category", "score"]].reset_index(drop=True)


def exclusions(path: str | os.PathLike, min_score: float) -> dict[str, str]:
    """processid → why it is excluded, for the suspects of `path` scoring at least `min_score`."""
    suspects = read_suspects(path, min_score)
    return {
        str(pid): f"{category} (score {score:.2f}) in {path}"
        for pid, category, score in suspects.itertuples(index=False)
    }
