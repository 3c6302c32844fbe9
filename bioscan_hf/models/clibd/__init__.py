"""CLIBD: one embedding space for images, DNA barcodes and taxonomy text, registered with the Auto classes."""

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoProcessor

from .configuration_clibd import PRESETS, ClibdConfig
from .modeling_clibd import ClibdModel, ClibdOutput, ClibdPreTrainedModel, clibd_loss, info_nce
from .processing_clibd import ClibdImageProcessor, ClibdProcessor

AutoConfig.register("clibd", ClibdConfig, exist_ok=True)
AutoModel.register(ClibdConfig, ClibdModel, exist_ok=True)
# one class for both of transformers' backends: it does its own resizing, with PIL or torch alike (registered
# for "pil" alone, every load asked for the default "torchvision" and warned that it fell back)
AutoImageProcessor.register(
    ClibdConfig, image_processor_classes={"pil": ClibdImageProcessor, "torchvision": ClibdImageProcessor}, exist_ok=True
)
AutoProcessor.register(ClibdConfig, ClibdProcessor, exist_ok=True)

# A saved folder carries the module files and an `auto_map`, so it loads with trust_remote_code=True where
# bioscan-hf is not installed (the model writes its own: ClibdPreTrainedModel.save_pretrained).
ClibdImageProcessor.register_for_auto_class("AutoImageProcessor")
ClibdProcessor.register_for_auto_class("AutoProcessor")

__all__ = [
    "PRESETS",
    "ClibdConfig",
    "ClibdImageProcessor",
    "ClibdModel",
    "ClibdOutput",
    "ClibdPreTrainedModel",
    "ClibdProcessor",
    "clibd_loss",
    "info_nce",
]
