"""Image encoders: a timm model (`timm:NAME[:WEIGHTS]`, weights from a local file) or a transformers
vision folder (ViT, DINO, MAE, CLIP's vision tower or a whole CLIP).

Every image goes through the paper's evaluation framing — resize the shorter side to 256/224 of the
model's input size, centre crop the input size — normalised with the model's own mean and standard
deviation (its timm data config or its image processor; ImageNet's when it has neither).
Pooling: `cls` (the class token) or `avg` (the mean of the patch tokens; a CNN's global average).
"""

from __future__ import annotations

import os

import timm
import torch
from torchvision import transforms
from transformers import AutoImageProcessor, AutoModel

from bioscan_hf.core.paths import user_path
from bioscan_hf.embedding.base import Encoder, EncoderError
from bioscan_hf.models.checks import model_location

IMAGE_POOLINGS = ("cls", "avg")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def evaluation_transform(size: int, mean, std) -> transforms.Compose:
    """Resize to 256/224 of `size`, centre crop `size`, normalise: the paper's evaluation framing."""
    return transforms.Compose(
        [
            transforms.Resize(round(size * 256 / 224)),
            transforms.CenterCrop(size),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )


def _check_pooling(pooling: str | None) -> None:
    if pooling is not None and pooling not in IMAGE_POOLINGS:
        raise EncoderError(f"unknown image pooling {pooling!r}; choose one of {', '.join(IMAGE_POOLINGS)}")


class TimmImageEncoder(Encoder):
    """A timm model by name; weights from `weights` (a local .safetensors/.pth/.bin file), else timm's."""

    def __init__(
        self,
        model_name: str,
        weights: str | os.PathLike | None = None,
        pooling: str | None = None,
        **runtime,
    ) -> None:
        """`runtime`: batch_size, device, num_workers, dtype (`Encoder`)."""
        super().__init__(**runtime)
        _check_pooling(pooling)
        kwargs: dict = {"num_classes": 0}
        if pooling is not None:
            kwargs["global_pool"] = {"cls": "token", "avg": "avg"}[pooling]
        if weights is not None:
            weights = user_path(weights)
            if not weights.is_file():
                raise EncoderError(f"timm weights file {weights} not found (give a .safetensors, .pth or .bin file)")
            kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": str(weights)})
        else:
            kwargs["pretrained"] = True
        try:
            self.model = timm.create_model(model_name, **kwargs)
        except (RuntimeError, TypeError) as err:
            raise EncoderError(f"timm model {model_name!r} could not be built with {kwargs}: {err}") from err
        self.model = self.model.eval().to(self.device, dtype=self.dtype)
        self.name = f"timm:{model_name}" + (f":{weights}" if weights is not None else "")
        config = timm.data.resolve_data_config(model=self.model)
        self.transform = evaluation_transform(config["input_size"][-1], config["mean"], config["std"])
        self.image_dim = int(self.model.num_features)

    def image_transform(self, image):
        return self.transform(image)

    def _image_batch(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(pixels.to(next(self.model.parameters()).dtype))


class TransformersImageEncoder(Encoder):
    """A transformers vision model folder or Hub id (`AutoModel`), with its image processor's statistics."""

    def __init__(
        self,
        path: str | os.PathLike,
        pooling: str | None = None,
        trust_remote_code: bool = False,
        **runtime,
    ) -> None:
        """`runtime`: batch_size, device, num_workers, dtype (`Encoder`)."""
        super().__init__(**runtime)
        _check_pooling(pooling)
        location = model_location(path)
        self.name, self.pooling = str(path), pooling or "cls"
        model = AutoModel.from_pretrained(location, trust_remote_code=trust_remote_code, dtype=self.dtype)
        if getattr(model.config, "mask_ratio", 0):  # MAE masks patches at random unless told not to
            model.config.mask_ratio = 0.0
        self.model = model.eval().to(self.device)
        vision = getattr(model.config, "vision_config", model.config)
        size, mean, std = getattr(vision, "image_size", 224), IMAGENET_MEAN, IMAGENET_STD
        try:
            processor = AutoImageProcessor.from_pretrained(location, trust_remote_code=trust_remote_code)
            mean, std = processor.image_mean, processor.image_std
        except (OSError, ValueError):
            pass  # a folder without preprocessor_config.json: ImageNet statistics
        size = size if isinstance(size, int) else size[0]
        self.transform = evaluation_transform(size, mean, std)
        self.image_dim = int(self._image_batch(torch.zeros(1, 3, size, size, device=self.device)).shape[1])

    def image_transform(self, image):
        return self.transform(image)

    def _image_batch(self, pixels: torch.Tensor) -> torch.Tensor:
        pixels = pixels.to(self.model.dtype)
        if hasattr(self.model, "get_image_features"):  # a whole CLIP: its projected image embedding
            features = self.model.get_image_features(pixel_values=pixels)
            return features if isinstance(features, torch.Tensor) else features.pooler_output
        outputs = self.model(pixel_values=pixels)
        hidden = outputs.last_hidden_state
        if hidden.dim() == 4:  # a CNN: [B, C, H, W]
            return hidden.mean(dim=(2, 3))
        return hidden[:, 0] if self.pooling == "cls" else hidden[:, 1:].mean(dim=1)
