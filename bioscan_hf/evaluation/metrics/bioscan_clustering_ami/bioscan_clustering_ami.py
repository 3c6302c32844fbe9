"""BIOSCAN zero-shot clustering: Ward clusters of embeddings scored by adjusted mutual information."""

import datasets
import evaluate
import numpy as np

from bioscan_hf.evaluation.clustering import zero_shot_clustering
from bioscan_hf.evaluation.metric_info import metric_info

_DESCRIPTION = (
    "UMAP to 50 dimensions (30 neighbours, min_dist 0), Ward clustering with as many clusters as true "
    "classes, adjusted mutual information against the labels (BIOSCAN-5M's zero-shot clustering)."
)
_KWARGS = """
Args:
    predictions (list of list of float): one embedding per record.
    references (list of str): the true label of each record at the rank being scored.
    seed (int): UMAP's random state (default 0).
    reduce (bool): apply UMAP first (default True).
Returns:
    ami (float): adjusted mutual information in 0..1.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class BioscanClusteringAmi(evaluate.Metric):
    """Thin `evaluate` wrapper over `bioscan_hf.evaluation.clustering.zero_shot_clustering`."""

    def _info(self):
        return metric_info(_DESCRIPTION, _KWARGS, datasets.List(datasets.Value("float32")))

    def _compute(self, predictions, references, seed=0, reduce=True):
        scores, _ = zero_shot_clustering(np.asarray(predictions), {"rank": references}, seed=seed, reduce=reduce)
        return {"ami": scores["rank"]}
