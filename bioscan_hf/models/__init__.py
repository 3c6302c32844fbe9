"""Model families: importing this package registers them with the transformers Auto classes."""

from bioscan_hf.models import barcodebert, barcodemamba, clibd, cnn  # noqa: F401
