"""Reference-library curation: the records of a library that are probably mislabelled, contaminated or
damaged (`audit`: suspects with their evidence, `findings`), and how well each species' records sit in
BINs (BAGS grades, `bins`). Built on the identify engine (`bioscan_hf.search`): one aligner, one
calibration. Data flows one way: records → qc / neighbours / bins → findings → run."""

from bioscan_hf.audit.bins import bags_grades
from bioscan_hf.audit.findings import CATEGORIES
from bioscan_hf.audit.run import DEFAULT_MIN_SCORE, AuditRun, audit

__all__ = ["CATEGORIES", "DEFAULT_MIN_SCORE", "AuditRun", "audit", "bags_grades"]
