"""DNA encoders from transformers folders: BarcodeBERT and any other DNA language model (DNABERT-2,
DNABERT-S, Nucleotide Transformer, HyenaDNA …) through `AutoModel` + `AutoTokenizer`.

Pooling is the mean of the last hidden layer over real tokens by default (the DNABERT-2 maintainers
advise mean, not [CLS]); `cls` takes the first token. A barcode longer than the model's maximum length
is cut there, with a warning that counts them.
"""

from __future__ import annotations

import logging
import os

import torch
from transformers import AutoModel, AutoTokenizer

import bioscan_hf.models.auto  # noqa: F401  (registers BarcodeBERT with the Auto classes)
from bioscan_hf.embedding.base import Encoder, EncoderError
from bioscan_hf.models.barcodebert.modeling_barcodebert import masked_mean
from bioscan_hf.models.checks import check_kmer_tokenizer, model_location

logger = logging.getLogger(__name__)

DNA_POOLINGS = ("mean", "cls")
#: tokenizers of some DNA models report no limit (a huge sentinel): then the config's positions decide
NO_LENGTH_LIMIT = 1_000_000


def last_hidden_state(outputs) -> torch.Tensor:
    """The last hidden layer [B, T, H] of a model's output (remote-code models may return tuples)."""
    if isinstance(outputs, tuple):
        return outputs[0]
    return outputs.last_hidden_state


class TransformersDnaEncoder(Encoder):
    """Barcodes → embeddings with a transformers model folder or Hub id and its tokenizer."""

    def __init__(
        self,
        path: str | os.PathLike,
        pooling: str = "mean",
        trust_remote_code: bool = False,
        **runtime,
    ) -> None:
        """`runtime`: batch_size (default 256), device, dtype (`Encoder`)."""
        super().__init__(**{"batch_size": 256, **runtime})
        if pooling not in DNA_POOLINGS:
            raise EncoderError(f"unknown DNA pooling {pooling!r}; choose one of {', '.join(DNA_POOLINGS)}")
        location = model_location(path)
        self.name, self.pooling = str(path), pooling
        self.tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=trust_remote_code)
        self.model = AutoModel.from_pretrained(location, trust_remote_code=trust_remote_code, dtype=self.dtype).eval()
        self.model.to(self.device)
        if self.model.config.model_type == "barcodebert":
            check_kmer_tokenizer(self.model.config, self.tokenizer, location)
        if self.tokenizer.pad_token is None:
            raise EncoderError(f"{path}: its tokenizer has no padding token, so barcodes cannot be batched")
        self.max_length = self._max_length()
        self.truncated = 0
        with torch.inference_mode():
            self.dna_dim = int(self._dna_batch(["ACGT" * 8]).shape[1])
        #: how many barcodes were cut at `max_length` so far
        self.truncated = 0

    def _max_length(self) -> int | None:
        limit = self.tokenizer.model_max_length
        if limit and limit < NO_LENGTH_LIMIT:
            return int(limit)
        positions = getattr(self.model.config, "max_position_embeddings", None)
        return int(positions) if positions else None

    def _tokens(self, sequences: list[str]) -> dict[str, torch.Tensor]:
        # a model that averages its padding too (the first BarcodeBERT release) reads the original fixed width
        padding = "max_length" if getattr(self.model.config, "legacy_attend_to_padding", False) else True
        batch = self.tokenizer(sequences, padding=padding, return_tensors="pt")
        if self.max_length is not None and batch["input_ids"].shape[1] > self.max_length:
            self.truncated += int((batch["attention_mask"].sum(dim=1) > self.max_length).sum())
            batch = self.tokenizer(
                sequences, padding=padding, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
        return {k: v.to(self.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}

    def embed_dna(self, sequences, progress: bool = True, sort_by_length: bool = True):
        before = self.truncated
        vectors = super().embed_dna(sequences, progress, sort_by_length)
        if self.truncated > before:
            logger.warning(
                "%s reads at most %d tokens: %d of %d barcodes were longer and were cut there",
                self.name,
                self.max_length,
                self.truncated - before,
                len(sequences),
            )
        return vectors

    def _dna_batch(self, sequences: list[str]) -> torch.Tensor:
        tokens = self._tokens(sequences)
        if self.pooling == "mean" and hasattr(self.model, "get_dna_embeddings"):
            return self.model.get_dna_embeddings(**tokens)  # BarcodeBERT's own masked mean
        hidden = last_hidden_state(self.model(**tokens))
        if self.pooling == "cls":
            return hidden[:, 0]
        return masked_mean(hidden, tokens["attention_mask"])
