"""Encoder families are registered, not chained: resolution order, errors, and adding a family."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from bioscan_hf.embedding import ENCODER_FAMILIES, EncoderError, EncoderFamily, load_encoder, registry
from bioscan_hf.embedding.kmer import KmerEncoder


def test_prefixes_and_folders_resolve(tmp_path: Path) -> None:
    assert isinstance(load_encoder("kmer5"), KmerEncoder) and load_encoder("kmer5").k == 5
    with pytest.raises(EncoderError, match="unknown prefix nope:"):
        load_encoder("nope:thing")
    with pytest.raises(EncoderError, match="has no embeddings"):
        load_encoder("align")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EncoderError, match="has no config.json: not a model folder"):
        load_encoder(tmp_path / "empty")
    names = [family.name for family in ENCODER_FAMILIES]
    assert names.index("clibd") < names.index("hf-vision") < names.index("hf-dna")


def test_a_new_family_is_one_registry_line(monkeypatch: pytest.MonkeyPatch) -> None:
    class Constant(KmerEncoder):
        def embed_dna(self, sequences, progress=True, sort_by_length=True) -> np.ndarray:
            return np.ones((len(sequences), 4), dtype=np.float32)

    family = EncoderFamily("constant", "const:N", "DNA", "ones", lambda spec, config, o: Constant(1), prefix="const")
    monkeypatch.setattr(registry, "ENCODER_FAMILIES", (*ENCODER_FAMILIES, family))
    encoder = load_encoder("const:anything")
    assert isinstance(encoder, Constant) and encoder.spec == "const:anything"
    assert encoder.embed_dna(["ACGT"]).tolist() == [[1, 1, 1, 1]]
    assert dataclasses.asdict(registry.LoadOptions(batch_size=8))["batch_size"] == 8
