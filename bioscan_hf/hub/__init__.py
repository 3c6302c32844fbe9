"""Publishing to the Hugging Face Hub: uploads (`upload`: datasets, models, the Space) and model cards
(`cards`). Names are imported from their modules when first used (`core.lazy`): an upload needs no model."""

from bioscan_hf.core.lazy import lazy_exports

__all__ = [
    "HubSettings",
    "push_dataset",
    "read_metrics",
    "render_model_card",
    "upload_folder",
    "write_barcodebert_card",
    "write_clibd_card",
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "HubSettings": "settings",
        "push_dataset": "upload",
        "upload_folder": "upload",
        "read_metrics": "cards",
        "render_model_card": "cards",
        "write_barcodebert_card": "cards",
        "write_clibd_card": "cards",
    },
)
