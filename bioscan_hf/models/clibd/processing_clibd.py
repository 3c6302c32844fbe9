"""Inputs for CLIBD: image transforms (SPEC §4), the k-mer tokenizer, and a taxonomy-text tokenizer.

Images: training — resize to 256, random resized crop 224, flips, small rotations; evaluation — resize
to 256, centre crop 224. Text: "order family genus species" (missing ranks left out), at most 20 tokens,
tokenized by word over the taxonomy's own vocabulary (built from the dataset's label names, so no
download is needed and every name is one token).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from PIL import Image
from tokenizers import Tokenizer, models, pre_tokenizers
from torchvision import transforms
from transformers import PreTrainedTokenizerFast

from ..barcodebert.tokenization_barcodebert import KmerTokenizerFast

#: Mean and standard deviation of BIOSCAN-5M's cropped images (from the bioscan-dataset package).
IMAGE_MEAN, IMAGE_STD = (0.76281859, 0.76503749, 0.76373138), (0.14205404, 0.15642502, 0.17309470)
TEXT_RANKS = ("order", "family", "genus", "species")
PROCESSOR_CONFIG = "processor_config.json"


def image_transform(train: bool, image_size: int = 224) -> transforms.Compose:
    """The published CLIBD image pipeline for training (augmented) or evaluation.

    The resize keeps the published 256:224 ratio to the crop, so smaller models see the same framing.
    """
    steps = [transforms.Resize(round(image_size * 256 / 224))]
    if train:
        steps += [
            transforms.RandomResizedCrop(image_size),
            transforms.RandomHorizontalFlip(),
            transforms.RandomVerticalFlip(),
            transforms.RandomRotation(15),
        ]
    else:
        steps.append(transforms.CenterCrop(image_size))
    steps += [transforms.ToTensor(), transforms.Normalize(IMAGE_MEAN, IMAGE_STD)]
    return transforms.Compose(steps)


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


class ClibdProcessor:
    """Turns records (image, barcode, taxonomy) into model inputs; absent modalities are masked out.

    `save_pretrained` writes the two tokenizers (`dna_tokenizer/`, `text_tokenizer/`) and
    `processor_config.json` beside a model, so `ClibdProcessor.from_pretrained(model_dir)` restores it.
    """

    def __init__(
        self,
        dna_tokenizer: KmerTokenizerFast,
        text_tokenizer: PreTrainedTokenizerFast,
        image_size: int = 224,
        train: bool = False,
    ) -> None:
        self.dna_tokenizer = dna_tokenizer
        self.text_tokenizer = text_tokenizer
        self.transform = image_transform(train, image_size)
        self.image_size = image_size

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Write both tokenizers and the image size into `folder`."""
        folder = Path(folder)
        self.dna_tokenizer.save_pretrained(folder / "dna_tokenizer")
        self.text_tokenizer.save_pretrained(folder / "text_tokenizer")
        (folder / PROCESSOR_CONFIG).write_text(json.dumps({"image_size": self.image_size}, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, train: bool = False) -> ClibdProcessor:
        """The processor saved beside a CLIBD model: a local folder or a Hub model id."""
        if not Path(folder).is_dir():
            from huggingface_hub import snapshot_download

            patterns = ["dna_tokenizer/*", "text_tokenizer/*", PROCESSOR_CONFIG]
            folder = snapshot_download(str(folder), allow_patterns=patterns)
        folder = Path(folder)
        if not (folder / PROCESSOR_CONFIG).is_file():
            raise FileNotFoundError(f"{folder} has no {PROCESSOR_CONFIG}: it was not saved with a ClibdProcessor")
        settings = json.loads((folder / PROCESSOR_CONFIG).read_text())
        return cls(
            KmerTokenizerFast.from_pretrained(folder / "dna_tokenizer"),
            PreTrainedTokenizerFast.from_pretrained(folder / "text_tokenizer"),
            image_size=settings["image_size"],
            train=train,
        )

    def __call__(
        self, images: Sequence[Image.Image | None], barcodes: Sequence[str | None], texts: Sequence[str | None]
    ) -> dict[str, torch.Tensor]:
        if not (len(images) == len(barcodes) == len(texts)):
            raise ValueError(f"got {len(images)} images, {len(barcodes)} barcodes and {len(texts)} texts")
        blank = torch.zeros(3, self.image_size, self.image_size)
        pixels = [self.transform(image.convert("RGB")) if image is not None else blank for image in images]
        # a missing barcode gets a one-k-mer stand-in so the batch stays rectangular; dna_mask drops it from the loss
        stand_in = "A" * self.dna_tokenizer.k
        dna = self.dna_tokenizer([b or stand_in for b in barcodes], padding=True, return_tensors="pt")
        text = self.text_tokenizer([t or "" for t in texts], padding=True, truncation=True, return_tensors="pt")
        return {
            "pixel_values": torch.stack(pixels),
            "dna_input_ids": dna["input_ids"],
            "dna_attention_mask": dna["attention_mask"],
            "text_input_ids": text["input_ids"],
            "text_attention_mask": text["attention_mask"],
            "image_mask": torch.tensor([image is not None for image in images]),
            "dna_mask": torch.tensor([bool(b) for b in barcodes]),
            "text_mask": torch.tensor([bool(t) for t in texts]),
        }
