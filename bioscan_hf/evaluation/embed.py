"""Barcode embeddings from a BarcodeBERT model, batched by length so short barcodes do not pay for long ones."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer, PreTrainedModel


def load_dna_encoder(path: str | os.PathLike, device: str | None = None) -> tuple[PreTrainedModel, object]:
    """A BarcodeBERT encoder and its tokenizer from a folder (any BarcodeBERT head is fine)."""
    import bioscan_hf.models  # noqa: F401  (registers BarcodeBERT with the Auto classes)

    model = AutoModel.from_pretrained(path).eval()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device), AutoTokenizer.from_pretrained(path)


@torch.inference_mode()
def embed_dna(
    model: PreTrainedModel,
    tokenizer,
    sequences: Sequence[str],
    batch_size: int = 256,
    sort_by_length: bool = True,
    progress: bool = True,
) -> np.ndarray:
    """Embeddings [N, hidden] (float32) in input order: the mean of the last layer over real tokens.

    With `sort_by_length`, batches hold barcodes of similar length, so padding is minimal.
    """
    if len(sequences) == 0:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32)
    lengths = np.array([len(s) for s in sequences])
    order = np.argsort(-lengths, kind="stable") if sort_by_length else np.arange(len(sequences))
    out = np.zeros((len(sequences), model.config.hidden_size), dtype=np.float32)
    device = next(model.parameters()).device
    for start in tqdm(range(0, len(order), batch_size), desc="embedding barcodes", disable=not progress):
        index = order[start : start + batch_size]
        batch = tokenizer([sequences[i] for i in index], padding=True, return_tensors="pt").to(device)
        out[index] = model.get_dna_embeddings(batch["input_ids"], batch["attention_mask"]).float().cpu().numpy()
    return out
