"""Inputs for CLIBD: a transformers `ProcessorMixin` over an image processor, the k-mer tokenizer and a
taxonomy-text tokenizer, registered with `AutoProcessor` (saved as transformers 5 saves CLIP's:
`processor_config.json` with the image processor's settings, the tokenizers in `dna_tokenizer/` and
`text_tokenizer/`).

Images (SPEC §4): resize the shorter side to 256, centre crop 224, then normalise; the training
augmentation (random resized crop, flips, rotation) is `ClibdImageProcessor.training_transform`, applied
by the training collator. The steps run on float tensors in the published code's order, and with
`do_normalize=False` no normalisation is applied, as in the published CLIBD. Text: "order family genus
species" (missing ranks left out), at most 20 tokens; our models use a word-level tokenizer over the
taxonomy's own vocabulary (built from the dataset's label names, so no download is needed).
Padding: "longest" for our models (their pooling ignores padding); "max_length" for the published CLIBD,
whose pooling averages over a fixed 133 DNA and 20 text positions.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from PIL import Image
from tokenizers import Tokenizer, models, pre_tokenizers
from torchvision import transforms
from transformers import BatchFeature, PreTrainedTokenizerBase, PreTrainedTokenizerFast, ProcessorMixin
from transformers.image_processing_utils import BaseImageProcessor

#: Mean and standard deviation of BIOSCAN-5M's cropped images (from the bioscan-dataset package).
IMAGE_MEAN, IMAGE_STD = (0.76281859, 0.76503749, 0.76373138), (0.14205404, 0.15642502, 0.17309470)
TEXT_RANKS = ("order", "family", "genus", "species")
PADDINGS = ("longest", "max_length")


class ClibdImageProcessor(BaseImageProcessor):
    """CLIBD's evaluation transform as a transformers image processor (`AutoImageProcessor`).

    `resize_size` (default: the published 256:224 ratio to `crop_size`) is the shorter side after
    resizing; `do_normalize=False` leaves pixels in [0, 1] (the published CLIBD).
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        crop_size: int = 224,
        resize_size: int | None = None,
        do_normalize: bool = True,
        image_mean: Sequence[float] = IMAGE_MEAN,
        image_std: Sequence[float] = IMAGE_STD,
        rotation_degrees: float = 15.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.crop_size = crop_size
        self.resize_size = resize_size or round(crop_size * 256 / 224)
        self.do_normalize = do_normalize
        self.image_mean, self.image_std = list(image_mean), list(image_std)
        self.rotation_degrees = rotation_degrees

    def _normalize(self) -> list:
        return [transforms.Normalize(self.image_mean, self.image_std)] if self.do_normalize else []

    def eval_transform(self) -> transforms.Compose:
        """One image → tensor: to float, resize, centre crop, normalise."""
        resize = transforms.Resize(self.resize_size, antialias=True)
        return transforms.Compose(
            [transforms.ToTensor(), resize, transforms.CenterCrop(self.crop_size), *self._normalize()]
        )

    def training_transform(self) -> transforms.Compose:
        """The training augmentation: resize, random resized crop, flips, rotation, normalise."""
        return transforms.Compose(
            [
                transforms.ToTensor(),
                transforms.Resize(self.resize_size, antialias=True),
                transforms.RandomResizedCrop(self.crop_size, antialias=True),
                transforms.RandomHorizontalFlip(),
                transforms.RandomVerticalFlip(),
                transforms.RandomRotation(self.rotation_degrees),
                *self._normalize(),
            ]
        )

    def transform(self, image: Image.Image) -> torch.Tensor:
        """The evaluation transform of one photo (converted to RGB)."""
        return self.eval_transform()(image.convert("RGB"))

    def preprocess(
        self, images: Image.Image | Sequence[Image.Image], return_tensors: str | None = "pt", **_
    ) -> BatchFeature:
        """`pixel_values` [N, 3, crop, crop] of one photo or a list of photos."""
        images = [images] if isinstance(images, Image.Image) else list(images)
        transform = self.eval_transform()
        pixels = torch.stack([transform(image.convert("RGB")) for image in images])
        return BatchFeature({"pixel_values": pixels}, tensor_type=return_tensors)


def taxonomy_text(record: dict) -> str:
    """The text CLIBD aligns with: the record's order, family, genus and species names that are known."""
    return " ".join(str(record[rank]) for rank in TEXT_RANKS if record.get(rank))


def build_taxonomy_tokenizer(names: Iterable[str], max_length: int = 20) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose vocabulary is the words of the taxonomy names."""
    words = sorted({word for name in names if name for word in str(name).split()})
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab = {token: i for i, token in enumerate(specials + words)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=max_length,
    )


class ClibdProcessor(ProcessorMixin):
    """Turns records (image, barcode, taxonomy text) into `ClibdModel` inputs; absent modalities are
    masked out (`image_mask`, `dna_mask`, `text_mask`) so a batch can mix complete and partial records.

    `save_pretrained` / `from_pretrained` / `push_to_hub` behave as for CLIP's processor, and
    `AutoProcessor.from_pretrained(model_dir)` returns this class.
    """

    def __init__(
        self,
        image_processor: ClibdImageProcessor,
        dna_tokenizer: PreTrainedTokenizerBase,
        text_tokenizer: PreTrainedTokenizerBase,
        dna_padding: str = "longest",
        text_padding: str = "longest",
        text_max_length: int = 20,
    ) -> None:
        for name, value in (("dna_padding", dna_padding), ("text_padding", text_padding)):
            if value not in PADDINGS:
                raise ValueError(f"{name} must be one of {', '.join(PADDINGS)}, got {value!r}")
        self.dna_padding = dna_padding
        self.text_padding = text_padding
        self.text_max_length = text_max_length
        super().__init__(image_processor, dna_tokenizer, text_tokenizer)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> list[str]:
        """`ProcessorMixin.save_pretrained`, plus the DNA tokenizer's module at the folder's top level, where
        `trust_remote_code` looks for it (transformers resolves a subfolder tokenizer's code from the root).
        With `push_to_hub=True` the finished folder is uploaded (`push_to_hub`, which saves the same way)."""
        push = kwargs.pop("push_to_hub", False)
        files = super().save_pretrained(save_directory, **kwargs)
        for tokenizer in (self.dna_tokenizer, self.text_tokenizer):
            if tokenizer._auto_class:  # custom code: its module files (the k-mer tokenizer's and its policy)
                write_files = getattr(sys.modules[type(tokenizer).__module__], "write_module_files", None)
                if write_files is not None:
                    write_files(save_directory)
                else:
                    shutil.copy(sys.modules[type(tokenizer).__module__].__file__, save_directory)
        if push:  # transformers' own upload would run before the copy; this module imports nothing relatively
            accepted = inspect.signature(self.push_to_hub).parameters
            repo_id = kwargs.pop("repo_id", Path(save_directory).name)
            self.push_to_hub(repo_id, **{key: value for key, value in kwargs.items() if key in accepted})
        return files

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs) -> ClibdProcessor:
        """`ProcessorMixin.from_pretrained`; a folder saved by an earlier bioscan-hf (its processor_config.json
        held only the image size) gets the line of Python that re-saves it."""
        settings = Path(pretrained_model_name_or_path) / "processor_config.json"
        if settings.is_file() and "image_processor" not in (old := json.loads(settings.read_text())):
            folder = str(pretrained_model_name_or_path)
            raise OSError(
                f"{folder}: its processor was saved by an earlier bioscan-hf; re-save it once with\n"
                f"  from transformers import AutoTokenizer; from bioscan_hf.models.clibd import ClibdImageProcessor, "
                f"ClibdProcessor; ClibdProcessor(ClibdImageProcessor(crop_size={old.get('image_size', 224)}), "
                f"AutoTokenizer.from_pretrained({folder + '/dna_tokenizer'!r}), "
                f"AutoTokenizer.from_pretrained({folder + '/text_tokenizer'!r})).save_pretrained({folder!r})"
            )
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    @property
    def image_size(self) -> int:
        """Side of the square images the model takes."""
        return self.image_processor.crop_size

    def tokenize_dna(self, barcodes: Sequence[str]) -> BatchFeature:
        """`input_ids` and `attention_mask` of barcodes (padded as the model's pooling expects)."""
        return self.dna_tokenizer(list(barcodes), padding=self.dna_padding, return_tensors="pt")

    def tokenize_text(self, texts: Sequence[str]) -> BatchFeature:
        """`input_ids` and `attention_mask` of taxonomy texts (at most `text_max_length` tokens)."""
        return self.text_tokenizer(
            list(texts),
            padding=self.text_padding,
            truncation=True,
            max_length=self.text_max_length,
            return_tensors="pt",
        )

    def __call__(
        self,
        images: Sequence[Image.Image | torch.Tensor | None] | None = None,
        barcodes: Sequence[str | None] | None = None,
        texts: Sequence[str | None] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Model inputs for records given as parallel lists (None for a missing modality of a record).

        Images may be photos or tensors already transformed (the training collator's augmentation)."""
        given = [x for x in (images, barcodes, texts) if x is not None]
        if not given:
            raise ValueError("give images, barcodes or texts")
        n = len(given[0])
        if any(len(x) != n for x in given):
            sizes = ", ".join(
                f"{len(x) if x is not None else 0} {name}"
                for x, name in zip((images, barcodes, texts), ("images", "barcodes", "texts"))
            )
            raise ValueError(f"records must align: got {sizes}")
        batch: dict[str, torch.Tensor] = {}
        if images is not None:
            blank = torch.zeros(3, self.image_size, self.image_size)
            pixels = [
                blank if image is None else image if torch.is_tensor(image) else self.image_processor.transform(image)
                for image in images
            ]
            batch["pixel_values"] = torch.stack(pixels)
            batch["image_mask"] = torch.tensor([image is not None for image in images])
        if barcodes is not None:
            # a missing barcode gets a one-k-mer stand-in so the batch stays rectangular; dna_mask drops it
            stand_in = "A" * self.dna_tokenizer.k
            dna = self.tokenize_dna([b or stand_in for b in barcodes])
            batch["dna_input_ids"], batch["dna_attention_mask"] = dna["input_ids"], dna["attention_mask"]
            batch["dna_mask"] = torch.tensor([bool(b) for b in barcodes])
        if texts is not None:
            text = self.tokenize_text([t or "" for t in texts])
            batch["text_input_ids"], batch["text_attention_mask"] = text["input_ids"], text["attention_mask"]
            batch["text_mask"] = torch.tensor([bool(t) for t in texts])
        return batch
