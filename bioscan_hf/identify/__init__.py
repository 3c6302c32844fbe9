"""Identification of specimens against a reference library (`bioscan-hf identify`).

`bioscan_hf.data.sources` reads queries and references; `seeds` shortlists references, `align` aligns exactly,
`engine` calls each rank with a confidence, `run` streams a batch to a file, `report` scores calls.
"""

from bioscan_hf.data.sources import CALL_RANKS, InputError, read_references
from bioscan_hf.identify.engine import DEFAULT_THRESHOLDS, Identifier, Reference
from bioscan_hf.identify.run import IdentifyRun, identify

__all__ = [
    "CALL_RANKS",
    "DEFAULT_THRESHOLDS",
    "IdentifyRun",
    "Identifier",
    "InputError",
    "Reference",
    "identify",
    "read_references",
]
