"""Embeddings of a prepared dataset's splits, computed once per encoder and reused by every task."""

from __future__ import annotations

import datasets
import numpy as np

from bioscan_hf.embedding.base import Encoder, EncoderError
from bioscan_hf.embedding.store import StoredEmbeddings, stored_or_embedded, stored_or_embedded_images


class SplitEmbeddings:
    """An encoder plus each split's barcode and image embeddings, computed on first use; with `stored` (an
    embeddings file of the same model, `bioscan-hf embed`) the records it holds are read, not embedded."""

    def __init__(self, encoder: Encoder, stored: StoredEmbeddings | None = None) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.stored = stored
        if stored is not None:
            stored.check_model(encoder)
        self._cache: dict[tuple[str, str], object] = {}

    def default_modality(self) -> str:
        """ "dna" for encoders with a DNA tower (CLIBD included), else "image"."""
        return "dna" if self.encoder.has_dna else "image"

    def _records(self, data: datasets.DatasetDict, split: str) -> datasets.Dataset:
        if split not in data or data[split].num_rows == 0:
            raise EncoderError(f"the dataset has no {split!r} records; it has {', '.join(data)}")
        return data[split]

    def dna(self, data: datasets.DatasetDict, split: str) -> np.ndarray:
        """Embeddings of a split's barcodes."""
        records = self._records(data, split)
        key = (records._fingerprint, "dna")  # the same split of two configs may hold different records
        if key not in self._cache:
            barcodes = records["dna_barcode"][:]  # [:]: a list, not row by row

            def compute(rows: np.ndarray) -> np.ndarray:
                return self.encoder.embed_distinct([barcodes[i] for i in rows])

            self._cache[key] = stored_or_embedded(self.stored, "dna", records["processid"][:], compute)
        return self._cache[key]

    def barcode_ids(self, data: datasets.DatasetDict, split: str) -> list[str]:
        """A split's barcodes as the encoder reads them: records with equal ids have equal embeddings."""
        return self.encoder.prepare_barcodes(self._records(data, split)["dna_barcode"][:])

    def images(self, data: datasets.DatasetDict, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings of a split's images and the mask of those that decoded (see `Encoder.undecodable`)."""
        records = self._records(data, split)
        key = (records._fingerprint, "image")
        if key not in self._cache:
            if "image" not in records.features:
                raise EncoderError(f"split {split!r} has no images: load an image config such as cropped_256")
            vectors, ok, _ = stored_or_embedded_images(self.encoder, records, self.stored)
            self._cache[key] = (vectors, ok)
        return self._cache[key]
