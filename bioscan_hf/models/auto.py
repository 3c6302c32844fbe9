"""Import every model family, which registers each with transformers' Auto classes (configs, models,
tokenizers, processors)."""

from bioscan_hf.models import barcodebert, barcodemamba, clibd, cnn  # noqa: F401
