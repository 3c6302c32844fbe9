"""The one encoder interface: `embed_dna(sequences)` and `embed_images(images)`, each optional, batched,
with a progress bar, on the device and dtype asked for.

An encoder implements the model-specific steps (`_dna_batch`: barcodes → features; `image_transform` and
`_image_batch`: pixels → features); batching, length-aware ordering, image decoding in DataLoader workers
and the undecodable-image report live here, once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import datasets
import numpy as np
import pyarrow as pa
import torch
from PIL import Image
from torch.utils.data import DataLoader

from bioscan_hf.core.console import progress_bar
from bioscan_hf.core.errors import UserError
from bioscan_hf.data.images import ImageDecodeError, decode_image
from bioscan_hf.data.selection import distinct_and_codes


class EncoderError(UserError, ValueError):
    """An encoder that cannot do what was asked (no such tower, unknown spec, unusable folder)."""


def default_device(device: str | None = None) -> str:
    """`device`, or CUDA when there is one, else the CPU."""
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def torch_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """A torch dtype from a name such as "bfloat16" (None keeps the model's own)."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    except KeyError:
        raise EncoderError(f"unknown dtype {dtype!r}; choose float32, float16 or bfloat16") from None


class DecodeImages:
    """DataLoader collate: decode and transform a batch of rows; undecodable ones are returned by processid."""

    def __init__(self, transform: Callable, thumbnail: Callable[[Image.Image], bytes] | None = None) -> None:
        self.transform = transform
        self.thumbnail = thumbnail

    def __call__(self, rows: list[dict]) -> dict:
        pixels, kept, thumbnails, failed = [], [], [], {}
        for row in rows:
            try:
                image = decode_image(row["image"], f"record {row['processid']}")
            except ImageDecodeError as err:
                failed[row["processid"]] = str(err)
                continue
            pixels.append(self.transform(image.convert("RGB")))
            kept.append(row["row"])
            thumbnails.append(self.thumbnail(image) if self.thumbnail else None)
        stacked = torch.stack(pixels) if pixels else None
        return {"pixels": stacked, "rows": kept, "thumbnails": thumbnails, "failed": failed}


class Encoder:
    """Base of every encoder. Subclasses set `name`, `dna_dim` / `image_dim` (None: no such tower) and
    implement `_dna_batch` and/or `image_transform` + `_image_batch`."""

    name: str = "encoder"
    dna_dim: int | None = None
    image_dim: int | None = None
    #: the model holding the parameters (None for parameter-free encoders such as k-mer profiles)
    model: torch.nn.Module | None = None
    #: the spec and pooling option it was loaded with (`load_encoder`): what embeddings files record
    spec: str = ""
    pooling_option: str | None = None

    def __init__(
        self,
        batch_size: int = 64,
        device: str | None = None,
        num_workers: int | None = None,
        dtype: str | torch.dtype | None = None,
    ) -> None:
        """How every encoder runs (its subclasses pass these through as `**runtime`): batch size, device,
        image-decoding workers, and the weights' dtype (None: as saved)."""
        self.batch_size = batch_size
        self.device = default_device(device)
        self.dtype = torch_dtype(dtype)
        # on a GPU, JPEG decoding would starve the model: decode in workers; on a CPU they compete for the cores
        default_workers = min(4, max(0, (os.cpu_count() or 1) - 1)) if self.device.startswith("cuda") else 0
        self.num_workers = default_workers if num_workers is None else num_workers
        #: processid → problem, for every image that could not be decoded so far
        self.undecodable: dict[str, str] = {}

    @property
    def has_dna(self) -> bool:
        return self.dna_dim is not None

    @property
    def has_images(self) -> bool:
        return self.image_dim is not None

    def _require(self, modality: str) -> None:
        if not (self.has_dna if modality == "dna" else self.has_images):
            what = "barcodes" if modality == "dna" else "images"
            raise EncoderError(f"{self.name} does not embed {what}; choose an encoder with a {modality} tower")

    # DNA -------------------------------------------------------------------------------------------------
    def _dna_batch(self, sequences: list[str]) -> torch.Tensor:
        raise NotImplementedError

    def prepare_barcodes(self, sequences: Sequence[str]) -> list[str]:
        """Barcodes as this encoder reads them (default: unchanged; None → empty)."""
        return [s or "" for s in sequences]

    @torch.inference_mode()
    def embed_dna(self, sequences: Sequence[str], progress: bool = True, sort_by_length: bool = True) -> np.ndarray:
        """Embeddings [N, D] (float32) of barcodes, in input order. With `sort_by_length`, batches hold
        barcodes of similar length, so padding is minimal."""
        self._require("dna")
        sequences = self.prepare_barcodes(sequences)
        out = np.zeros((len(sequences), self.dna_dim), dtype=np.float32)
        lengths = np.array([len(s) for s in sequences])
        order = np.argsort(-lengths, kind="stable") if sort_by_length else np.arange(len(sequences))
        for start in progress_bar(
            range(0, len(order), self.batch_size), desc="embedding barcodes", disable=not progress
        ):
            index = order[start : start + self.batch_size]
            out[index] = self._dna_batch([sequences[i] for i in index]).float().cpu().numpy()
        return out

    def embed_distinct(self, sequences: Sequence[str] | pa.ChunkedArray) -> np.ndarray:
        """`embed_dna` with each distinct barcode embedded once (BOLD exports repeat about half; BIOSCAN-5M's
        5.15M records hold ~2.3M barcodes). An Arrow column is read without a Python string per record."""
        if isinstance(sequences, pa.ChunkedArray):
            distinct, inverse = distinct_and_codes(sequences)
            vectors = self.embed_dna(distinct + ([None] if sequences.null_count else []))  # a null: one past the end
            del distinct  # ~2M barcode strings at full size, freed before the per-record matrix is made
            pa.default_memory_pool().release_unused()
            return vectors[inverse]
        ids = self.prepare_barcodes(sequences)
        position: dict[str, int] = {}
        inverse = [position.setdefault(b, len(position)) for b in ids]
        return self.embed_dna(list(position))[inverse]

    # images ----------------------------------------------------------------------------------------------
    def image_transform(self, image: Image.Image) -> torch.Tensor:
        raise NotImplementedError

    def _image_batch(self, pixels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.inference_mode()
    def embed_images(self, images: Sequence[Image.Image], progress: bool = True) -> np.ndarray:
        """Embeddings [N, D] (float32) of decoded images, with this encoder's evaluation transform."""
        self._require("image")
        out = np.zeros((len(images), self.image_dim), dtype=np.float32)
        for start in progress_bar(
            range(0, len(images), self.batch_size), desc="embedding images", disable=not progress
        ):
            chunk = images[start : start + self.batch_size]
            pixels = torch.stack([self.image_transform(image.convert("RGB")) for image in chunk])
            out[start : start + len(chunk)] = self._image_batch(pixels.to(self.device)).float().cpu().numpy()
        return out

    @torch.inference_mode()
    def embed_image_records(
        self, records: datasets.Dataset, thumbnail: Callable[[Image.Image], bytes] | None = None
    ) -> tuple[np.ndarray, np.ndarray, list[bytes | None]]:
        """Embeddings [N, D] of a split's images (columns processid, image), a mask of the records whose
        image decoded (the others are zeros, listed in `undecodable`), and `thumbnail(image)` per record
        when given. Decoding runs in `num_workers` DataLoader workers."""
        self._require("image")
        rows = records.select_columns(["processid", "image"]).cast_column("image", datasets.Image(decode=False))
        rows = rows.add_column("row", list(range(len(rows))))
        out = np.zeros((len(rows), self.image_dim), dtype=np.float32)
        ok = np.zeros(len(rows), dtype=bool)
        thumbnails: list[bytes | None] = [None] * len(rows)
        loader = DataLoader(
            rows,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            collate_fn=DecodeImages(self.image_transform, thumbnail),
        )
        for batch in progress_bar(loader, desc="embedding images"):
            self.undecodable.update(batch["failed"])
            if batch["pixels"] is None:
                continue
            features = self._image_batch(batch["pixels"].to(self.device))
            out[batch["rows"]], ok[batch["rows"]] = features.float().cpu().numpy(), True
            for row, small in zip(batch["rows"], batch["thumbnails"]):
                thumbnails[row] = small
        return out, ok, thumbnails
