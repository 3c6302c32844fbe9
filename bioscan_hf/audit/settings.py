"""The settings of an audit (`AuditSettings`), as `TrainingArguments` is for training: one frozen
dataclass, each field declared once with its help text, checked when made; the Python API's argument
(`audit(source, out, settings)`) and the command's options alike. Importing it imports no engine."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.core.errors import InputError
from bioscan_hf.core.options import option
from bioscan_hf.search.settings import EngineSettings

#: Suspects below this score are left out of OUT by default.
DEFAULT_MIN_SCORE = 0.5


@dataclass(frozen=True, kw_only=True)
class AuditSettings(EngineSettings):
    """What an audit reads, how it compares records and what it writes (`bioscan-hf audit`)."""

    split: str | None = option("audit one split of a prepared dataset (default: all splits)", None)
    within: str | None = option(
        "audit only the records under this taxon, at any rank (e.g. Diptera); they are still compared with the "
        "whole library",
        None,
    )
    min_score: float = option(
        f"write suspects with at least this score (default {DEFAULT_MIN_SCORE}; 0 writes every finding)",
        DEFAULT_MIN_SCORE,
    )
    calibration: str | None = option(
        "a calibration file of `bioscan-hf calibrate` (default: fitted on SOURCE itself on first use, cached, "
        "as identify does)",
        None,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.min_score <= 1:
            raise InputError(f"--min-score {self.min_score}: expected a score between 0 and 1")
