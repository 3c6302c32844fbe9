"""Reference-library curation: the records of a library that are probably mislabelled, contaminated or
damaged (`audit`: suspects with their evidence, `findings`), and how well each species' records sit in
BINs (BAGS grades, `bins`); an audit's settings are `AuditSettings`. Built on the identify engine
(`bioscan_hf.search`): one aligner, one calibration. Data flows one way: records → qc / neighbours / bins →
findings → run. Names are imported from their modules when first used (`core.lazy`)."""

from bioscan_hf.core.lazy import lazy_exports

__all__ = ["CATEGORIES", "DEFAULT_MIN_SCORE", "AuditRun", "AuditSettings", "audit", "bags_grades"]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CATEGORIES": "findings",
        "DEFAULT_MIN_SCORE": "settings",
        "AuditSettings": "settings",
        "AuditRun": "run",
        "audit": "run",
        "bags_grades": "bins",
    },
)
