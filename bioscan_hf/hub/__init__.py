"""Publishing to the Hugging Face Hub: uploads (`upload`) and model cards (`cards`)."""

from bioscan_hf.hub.cards import read_metrics, render_model_card, write_barcodebert_card, write_clibd_card
from bioscan_hf.hub.upload import upload_folder

__all__ = ["read_metrics", "render_model_card", "upload_folder", "write_barcodebert_card", "write_clibd_card"]
