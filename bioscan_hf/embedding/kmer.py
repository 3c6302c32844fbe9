"""The k-mer profile encoder (`kmerK`): L2-normalised overlapping k-mer counts, no parameters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bioscan_hf.core.barcodes import UNKNOWN_CODE, base_codes
from bioscan_hf.core.errors import InputError
from bioscan_hf.embedding.base import Encoder


def kmer_profiles(sequences: Sequence[str], k: int = 6, batch_size: int = 2048) -> np.ndarray:
    """L2-normalised overlapping k-mer counts [N, 4**k] (float32); k-mers holding a non-ACGT base are skipped."""
    out = np.zeros((len(sequences), 4**k), dtype=np.float32)
    for start in range(0, len(sequences), batch_size):
        for row, text in enumerate(sequences[start : start + batch_size], start=start):
            codes = base_codes(text)
            if len(codes) < k:
                continue
            windows = np.lib.stride_tricks.sliding_window_view(codes, k)
            valid = (windows < UNKNOWN_CODE).all(axis=1)
            values = windows[valid].astype(np.int64) @ (4 ** np.arange(k - 1, -1, -1))
            out[row] = np.bincount(values, minlength=4**k)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


class KmerEncoder(Encoder):
    """k-mer profiles as embeddings (the paper's k-mer baseline); DNA only, CPU, exact."""

    def __init__(self, k: int = 6, batch_size: int = 2048) -> None:
        super().__init__(batch_size=batch_size, device="cpu")
        if not 1 <= k <= 10:
            raise InputError(f"k-mer size {k} is out of range 1..10 (4**k dimensions)")
        self.k, self.name, self.dna_dim = k, f"kmer{k}", 4**k

    def embed_dna(self, sequences: Sequence[str], progress: bool = True, sort_by_length: bool = True) -> np.ndarray:
        return kmer_profiles(self.prepare_barcodes(sequences), self.k, self.batch_size)

    def _dna_batch(self, sequences: list[str]) -> torch.Tensor:
        return torch.from_numpy(kmer_profiles(sequences, self.k))
