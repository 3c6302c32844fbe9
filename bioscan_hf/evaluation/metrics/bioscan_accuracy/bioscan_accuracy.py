"""BIOSCAN accuracy: micro and macro (mean per-class, "class-balanced") top-1 accuracy of labels."""

import datasets
import evaluate

from bioscan_hf.core.metrics import micro_macro_accuracy
from bioscan_hf.evaluation.metric_info import metric_info

_DESCRIPTION = "Micro accuracy and macro accuracy (the mean over true classes of each class's accuracy)."
_KWARGS = """
Args:
    predictions (list of str): predicted labels (e.g. the genus of each query's nearest key).
    references (list of str): true labels.
Returns:
    micro (float), macro (float): fractions in 0..1.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class BioscanAccuracy(evaluate.Metric):
    """Thin `evaluate` wrapper over `bioscan_hf.core.metrics.micro_macro_accuracy`."""

    def _info(self):
        return metric_info(_DESCRIPTION, _KWARGS, datasets.Value("string"))

    def _compute(self, predictions, references):
        micro, macro = micro_macro_accuracy(predictions, references)
        return {"micro": micro, "macro": macro}
