"""k-mer tokenizers: vocabulary presets, the input policy, batching options, and fast == slow."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from bioscan_hf.models.barcodebert import KmerTokenizer, KmerTokenizerFast
from bioscan_hf.models.barcodebert.tokenization_barcodebert import kmer_vocab, normalize_barcode

BOTH = [KmerTokenizer, KmerTokenizerFast]


def test_original_preset_matches_the_published_vocabulary() -> None:
    vocab = kmer_vocab(4, "original")
    assert vocab["[MASK]"] == 0 and vocab["[UNK]"] == 1 and vocab["AAAA"] == 2
    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=4)]
    assert [vocab[k] for k in kmers] == list(range(2, 258))
    tok = KmerTokenizerFast(k=4, preset="original")
    assert tok("AAAAACGT")["input_ids"] == [2, 2 + 0b00011011]  # no [CLS]/[SEP] in the original
    assert tok.pad_token_id == 1 != tok.mask_token_id == 0


@pytest.mark.parametrize("cls", BOTH)
def test_clean_preset_has_real_special_tokens(cls) -> None:
    tok = cls(k=4)
    assert [tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id] == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert tok("AAAA")["input_ids"] == [2, 5, 3]
    assert len(tok) == 4**4 + 5


@pytest.mark.parametrize("cls", BOTH)
def test_input_policy(cls) -> None:
    tok = cls(k=4)
    ref = tok("ACGTACGTTT")["input_ids"]
    assert tok(" acgt-ACGT\ntt ")["input_ids"] == ref  # case, whitespace, gaps
    assert tok("ACGUACGUUU")["input_ids"] == ref  # RNA U reads as T
    assert tok("ACGTACGTTTNNNNN")["input_ids"] == ref  # trailing N is padding
    assert tok("ACGRACGT")["input_ids"] == [2, tok.unk_token_id, tok.convert_tokens_to_ids("ACGT"), 3]  # IUPAC → N
    assert tok("NNNNACGT")["input_ids"][1] == tok.unk_token_id  # leading N kept as unknown
    assert tok("ACGTAC")["input_ids"][-2] == tok.unk_token_id  # short final k-mer


@pytest.mark.parametrize("cls", BOTH)
def test_strict_mode_rejects_non_dna(cls) -> None:
    tok = cls(k=4)
    with pytest.raises(ValueError, match=r"sequence 1: 'J' at position 2 is not a nucleotide"):
        tok(["ACGT", "ACJT"])
    with pytest.raises(ValueError, match="sequence 0: empty"):
        tok(["--NN"])
    with pytest.raises(ValueError, match="not a nucleotide"):
        tok("Hello world")
    lenient = cls(k=4, strict=False)
    assert lenient("ACJTACGT")["input_ids"][1] == lenient.unk_token_id


@pytest.mark.parametrize("cls", BOTH)
def test_long_sequences_are_cut_with_a_count(cls, caplog: pytest.LogCaptureFixture) -> None:
    tok = cls(k=8)
    ids = tok(["A" * 700, "C" * 100])["input_ids"]
    assert len(ids[0]) == 82 + 2  # 660 nt → 82 k-mers of 8, as the original
    assert "1 sequence(s) longer than 660 nt were truncated" in caplog.text


@pytest.mark.parametrize("cls", BOTH)
def test_batching_padding_and_tensors(cls) -> None:
    tok = cls(k=4)
    batch = tok(["ACGTACGT", "ACGT"], padding=True, return_tensors="pt", return_special_tokens_mask=True)
    assert batch["input_ids"].tolist() == [[2, 32, 32, 3], [2, 32, 3, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert batch["special_tokens_mask"].tolist() == [[1, 0, 0, 1], [1, 0, 1, 1]]
    assert batch["input_ids"].dtype == torch.long
    left = tok(["ACGTACGT", "ACGT"], padding="max_length", max_length=6, padding_side="left")
    assert left["input_ids"][1] == [0, 0, 0, 2, 32, 3]
    cut = tok(["ACGTACGTACGT"], truncation=True, max_length=3)
    assert cut["input_ids"] == [[2, 32, 3]]
    multiple = tok(["ACGT"], padding=True, pad_to_multiple_of=8)
    assert len(multiple["input_ids"][0]) == 8
    assert tok(["ACGT"], return_length=True)["length"] == [3]


@pytest.mark.parametrize("cls", BOTH)
def test_decode(cls) -> None:
    tok = cls(k=4)
    ids = tok("ACGTTTGA")["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "ACGTTTGA"
    assert tok.decode([ids, ids], skip_special_tokens=True) == ["ACGTTTGA", "ACGTTTGA"]


def test_pad_works_for_collators() -> None:
    tok = KmerTokenizerFast(k=4)
    features = [tok(s) for s in ("ACGTACGT", "ACGT")]
    padded = tok.pad(features, return_tensors="pt")
    assert padded["input_ids"].shape == (2, 4)


@pytest.mark.parametrize("cls", BOTH)
def test_save_and_auto_load(cls, tmp_path: Path) -> None:
    tok = cls(k=5, preset="clean")
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, KmerTokenizerFast) and loaded.k == 5
    slow = AutoTokenizer.from_pretrained(tmp_path, use_fast=False) if cls is KmerTokenizer else None
    assert slow is None or slow("ACGTACGTAC")["input_ids"] == loaded("ACGTACGTAC")["input_ids"]
    if cls is KmerTokenizerFast:
        assert (tmp_path / "tokenizer.json").exists()


def test_fast_rejects_overlapping_stride() -> None:
    with pytest.raises(ValueError, match="stride"):
        KmerTokenizerFast(k=4, stride=1)
    slow = KmerTokenizer(k=4, stride=2)
    assert slow.convert_ids_to_tokens(slow("ACGTAC", add_special_tokens=False)["input_ids"]) == [
        "ACGT",
        "GTAC",
        "[UNK]",
    ]
    assert slow.tokenize("ACGTAC") == ["ACGT", "GTAC", "AC"]


def _real_barcodes(path: Path) -> list[str]:
    with gzip.open(path, "rt") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        column = header.index("nucleotides")
        return [line.rstrip("\n").split("\t")[column] for line in handle]


@pytest.mark.parametrize("k", [4, 8])
def test_fast_equals_slow_on_every_real_barcode(bold_tsv: Path, k: int) -> None:
    barcodes = [b for b in _real_barcodes(bold_tsv) if b.strip()]
    assert len(barcodes) == 48_887
    slow, fast = KmerTokenizer(k=k), KmerTokenizerFast(k=k)
    rust = [e.ids for e in fast.backend_tokenizer.encode_batch(barcodes, add_special_tokens=False)]
    python = [slow.convert_tokens_to_ids(slow.tokenize(b)) for b in barcodes]
    vectorized_fast = fast(barcodes, add_special_tokens=False)["input_ids"]
    vectorized_slow = slow(barcodes, add_special_tokens=False)["input_ids"]
    assert rust == python == vectorized_fast == vectorized_slow
    assert np.mean([len(r) for r in rust]) > 600 / k  # real barcodes, mostly full length


def _reference_ids(sequence: str, k: int, stride: int, vocab: dict[str, int]) -> list[int]:
    """Plain-Python k-mers of the input policy: a window from every `stride`-th base; one that runs past
    the end or holds N is [UNK]; wrapped in [CLS] … [SEP]."""
    text = normalize_barcode(sequence, strict=False)
    windows = [text[i : i + k] for i in range(0, len(text), stride)]
    return [vocab["[CLS]"], *(vocab.get(w, vocab["[UNK]"]) for w in windows), vocab["[SEP]"]]


_BASES = st.text(alphabet="ACGTNacgtn-", min_size=1, max_size=90).filter(lambda s: any(c in "ACGTacgt" for c in s))


@settings(max_examples=60, deadline=None)
@given(st.lists(_BASES, min_size=1, max_size=12), st.integers(3, 5), st.data())
def test_batch_equals_per_sequence_and_a_plain_reference(sequences: list[str], k: int, data: st.DataObject) -> None:
    stride = data.draw(st.integers(1, k))
    tokenizer = KmerTokenizer(k=k, stride=stride, strict=False)
    vocab = kmer_vocab(k)
    batch = tokenizer(sequences, padding=True)
    for i, sequence in enumerate(sequences):
        single = tokenizer(sequence)["input_ids"]
        row = [t for t, m in zip(batch["input_ids"][i], batch["attention_mask"][i]) if m]
        assert row == single == _reference_ids(sequence, k, stride, vocab), (sequence, k, stride)
    if stride == k:  # the fast tokenizer (non-overlapping only) agrees too
        fast = KmerTokenizerFast(k=k, strict=False)(sequences, padding=True)
        assert fast["input_ids"] == batch["input_ids"] and fast["attention_mask"] == batch["attention_mask"]
