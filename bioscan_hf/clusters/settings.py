"""The settings of a clustering run (`ClusterSettings`), one frozen dataclass as `TrainingArguments` is for
training: each field declared once with its help text, checked when made; the Python API's argument
(`cluster(source, out, settings)`) and the command's options alike."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.clusters.linkage import LINK_DISTANCE
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.options import option
from bioscan_hf.search.settings import EngineSettings


@dataclass(frozen=True, kw_only=True)
class ClusterSettings(EngineSettings):
    """How `bioscan-hf cluster` reads barcodes, links them and writes the clusters."""

    split: str | None = option("cluster one split of a prepared dataset (default: all splits)", None)
    threshold: float = option(
        "join barcodes whose alignments differ by at most this share "
        f"(default {LINK_DISTANCE}: what agrees best with BOLD's BINs)",
        LINK_DISTANCE,
    )
    registry: str | None = option(
        "a registry of an earlier run (its OUT's .registry.parquet): its clusters keep their ids, new records "
        "join them or found new ones, merges and splits are listed",
        None,
    )
    no_refine: bool = option("single linkage only: do not split components with internal structure (MCL)", False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.threshold < 0.2:
            raise InputError(f"--threshold {self.threshold}: expected a share of differing bases, 0 < t < 0.2")
