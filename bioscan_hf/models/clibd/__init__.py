"""CLIBD: one embedding space for images, DNA barcodes and taxonomy text, registered with the Auto classes."""

from transformers import AutoConfig, AutoModel

from .configuration_clibd import ClibdConfig
from .modeling_clibd import ClibdModel, ClibdOutput, ClibdPreTrainedModel, clibd_loss, info_nce

AutoConfig.register("clibd", ClibdConfig, exist_ok=True)
AutoModel.register(ClibdConfig, ClibdModel, exist_ok=True)

__all__ = ["ClibdConfig", "ClibdModel", "ClibdOutput", "ClibdPreTrainedModel", "clibd_loss", "info_nce"]
