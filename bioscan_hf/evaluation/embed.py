"""Barcode embeddings from a BarcodeBERT model, batched by length so short barcodes do not pay for long ones."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer, PreTrainedModel


def load_dna_encoder(path: str | os.PathLike, device: str | None = None) -> tuple[PreTrainedModel, object]:
    """A BarcodeBERT encoder and its tokenizer from a folder (any BarcodeBERT head is fine)."""
    from bioscan_hf.models.checks import check_kmer_tokenizer, model_location

    path = model_location(path)
    model = AutoModel.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    if model.config.model_type == "barcodebert":
        check_kmer_tokenizer(model.config, tokenizer, path)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device), tokenizer


@torch.inference_mode()
def embed_dna(
    model: PreTrainedModel,
    tokenizer,
    sequences: Sequence[str],
    batch_size: int = 256,
    sort_by_length: bool = True,
    progress: bool = True,
    features: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> np.ndarray:
    """Embeddings [N, D] (float32) in input order; by default BarcodeBERT's mean of the last layer over
    real tokens, or `features(input_ids, attention_mask)` (e.g. CLIBD's `get_dna_features`).

    With `sort_by_length`, batches hold barcodes of similar length, so padding is minimal.
    """
    features = features or model.get_dna_embeddings
    if len(sequences) == 0:
        config = model.config
        width = getattr(config, "projection_dim", None) or config.hidden_size  # CLIBD: the projected space
        return np.zeros((0, width), dtype=np.float32)
    lengths = np.array([len(s) for s in sequences])
    order = np.argsort(-lengths, kind="stable") if sort_by_length else np.arange(len(sequences))
    out = None
    device = next(model.parameters()).device
    for start in tqdm(range(0, len(order), batch_size), desc="embedding barcodes", disable=not progress):
        index = order[start : start + batch_size]
        batch = tokenizer([sequences[i] for i in index], padding=True, return_tensors="pt").to(device)
        vectors = features(batch["input_ids"], batch["attention_mask"]).float().cpu().numpy()
        if out is None:
            out = np.zeros((len(sequences), vectors.shape[1]), dtype=np.float32)
        out[index] = vectors
    return out
