"""The settings of an audit (`AuditSettings`), as `TrainingArguments` is for training: one frozen
dataclass, each field declared once with its help text, checked when made; the Python API's argument
(`audit(source, out, settings)`) and the command's options alike. Importing it imports no engine."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.core.errors import InputError
from bioscan_hf.core.options import Settings, at_least, option, probability
from bioscan_hf.search.settings import DEFAULT_CANDIDATES, CalibrateSettings

#: Suspects below this score are left out of OUT by default.
DEFAULT_MIN_SCORE = 0.5


@dataclass(frozen=True, kw_only=True)
class AuditSettings(Settings):
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
    candidates: int = option(
        f"nearest distinct barcodes aligned per record (default {DEFAULT_CANDIDATES})", DEFAULT_CANDIDATES
    )
    num_proc: int = option("processes comparing barcodes (default 1)", 1)
    skip_bad: bool = option("leave unusable records out and list them in OUT's .skipped.tsv", False)
    overwrite: bool = option("replace OUT and the files beside it even if audit did not write them", False)

    def __post_init__(self) -> None:
        try:
            probability("min_score", self.min_score)
        except InputError:
            raise InputError(f"--min-score {self.min_score}: expected a score between 0 and 1") from None
        at_least("candidates", self.candidates, 1)
        at_least("num_proc", self.num_proc, 1)

    def calibration_settings(self) -> CalibrateSettings:
        """How the calibration fitted on first use of the library is made (as the audit shortlists)."""
        return CalibrateSettings(candidates=self.candidates, num_proc=self.num_proc)
