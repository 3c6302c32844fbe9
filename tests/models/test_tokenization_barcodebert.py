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
from transformers.tokenization_python import PythonBackend

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
    # the sequence and position named exactly: at a sequence's first base, past the 660-nt cut, at the end,
    # outside ASCII; an empty sequence before a bad one is named first; a non-string names its index
    for batch, message in [
        (["ACGT", "XACG"], "sequence 1: 'X' at position 0 is"),
        (["ACGT", "ACGT" * 200 + "J"], "sequence 1: 'J' at position 800 is"),
        (["ACGTX"], "sequence 0: 'X' at position 4 is"),
        (["ACGTAé"], "sequence 0: 'é' at position 5 is"),
        (["ACGT", "", "ACXT"], "sequence 1: empty"),
        (["ACXT", ""], "sequence 0: 'X' at position 2"),
    ]:
        with pytest.raises(ValueError, match=message):
            tok(batch)
    for k in (3, 4):  # the overlapping-window path (k=3 at stride 1) and the reshape path
        with pytest.raises(ValueError, match="sequence 1: 'J' at position 800 is"):
            KmerTokenizer(k=k, stride=1 if k == 3 else None)(["ACGT", "ACGT" * 200 + "J"])
    with pytest.raises(TypeError, match="^sequence 1: expected a str, got NoneType$"):
        tok(["ACGT", None, "ACGT"])
    assert lenient("ACGTAé")["input_ids"][1:-1] == [lenient.convert_tokens_to_ids("ACGT"), lenient.unk_token_id]


@pytest.mark.parametrize("cls", BOTH)
def test_long_sequences_are_cut_with_a_count(
    cls, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bioscan_hf.models.barcodebert import tokenization_barcodebert

    monkeypatch.setattr(tokenization_barcodebert, "TRUNCATION_SAID", set())
    tok = cls(k=8)
    ids = tok(["A" * 700, "C" * 100])["input_ids"]
    assert len(ids[0]) == 82 + 2  # 660 nt → 82 k-mers of 8, as the original
    assert (
        "1 sequence(s) longer than 660 nt were truncated; later truncations are counted in tokenizer.truncated_count"
        in caplog.text
    )
    tok(["A" * 660])  # exactly 660 nt is not cut
    assert tok.truncated_count == 1
    tok(["A" * 661, "C" * 661])
    assert tok.truncated_count == 3
    caplog.clear()
    cls(k=8)(["A" * 700])  # another tokenizer of the same process: counted, not said again
    assert "truncated" not in caplog.text


@pytest.mark.parametrize("cls", BOTH)
def test_pairs_and_pretokenized_input_take_transformers_path(cls) -> None:
    tok = cls(k=4)
    a, b = tok.convert_tokens_to_ids(["ACGT", "TTTT"])
    assert tok("ACGT", "TTTT")["input_ids"] == [tok.cls_token_id, a, tok.sep_token_id, b, tok.sep_token_id]
    assert tok(["ACGT"], ["TTTT"])["input_ids"] == [[tok.cls_token_id, a, tok.sep_token_id, b, tok.sep_token_id]]


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


class GenericKmerTokenizer(KmerTokenizer):
    """The slow tokenizer on transformers' own per-sequence encoding path (PythonBackend): the reference for
    the batching options that the vectorized encoder implements by itself."""

    def _encode_plus(self, *args, **kwargs):
        return PythonBackend._encode_plus(self, *args, **kwargs)


ENCODING_OPTIONS = [
    {},
    {"padding": True},
    {"padding": "max_length", "max_length": 12},
    {"padding": True, "padding_side": "left"},
    {"padding": "max_length", "max_length": 9, "padding_side": "left"},
    {"padding": True, "pad_to_multiple_of": 8},
    {"truncation": True, "max_length": 4},
    {"truncation": True, "max_length": 4, "padding": True, "padding_side": "left"},
    {"add_special_tokens": False, "padding": True},
    {"return_special_tokens_mask": True, "padding": True},
    {"return_special_tokens_mask": True},
    {"return_length": True, "padding": True},
    {"return_length": True},
    {"return_attention_mask": False, "padding": True},
]


def _plain(value):
    """A comparable form that keeps the container type: tensors and arrays by dtype, lists as lists."""
    if torch.is_tensor(value):
        return ("tensor", str(value.dtype), value.tolist())
    if isinstance(value, np.ndarray):
        return ("array", str(value.dtype), value.tolist())
    return (type(value).__name__, value)


@pytest.mark.parametrize("preset", ["clean", "original", "v1"])
@pytest.mark.parametrize(
    "options", ENCODING_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "none"
)
def test_every_option_equals_transformers_own_path(preset: str, options: dict) -> None:
    """The vectorized encoder against PythonBackend's per-sequence encoding: ids, masks, lengths, container
    types and dtypes, for one sequence and a batch, as lists, NumPy and torch."""
    reference = GenericKmerTokenizer(k=3, preset=preset)
    batch = ["ACGTACGTACGTAC", "ACGNNTAC", "TTTACGTAGGCATTGCAAT", "AC"]
    for cls in BOTH:
        ours = cls(k=3, preset=preset)
        for text, tensors in itertools.product((batch[0], batch), (None, "np", "pt")):
            if tensors and not isinstance(text, str) and not options.get("padding"):
                continue  # ragged rows cannot become one tensor (both raise)
            expected = reference(text, return_tensors=tensors, **options)
            got = ours(text, return_tensors=tensors, **options)
            assert set(got) == set(expected), (cls.__name__, text, tensors)
            for key in expected:
                assert _plain(got[key]) == _plain(expected[key]), (cls.__name__, key, text, tensors)


MESSY = [
    "acgtACGTuuAG",  # lower case and RNA
    "ACGT-ACG.TAC GTA\tCG\n",  # alignment gaps and whitespace
    "ACRYSWKMBDHVACGT",  # every IUPAC ambiguity code
    "NNACGTACGTNNNN",  # leading N kept, trailing N stripped
    "ACGTTGCA" * 100,  # longer than 660 nt
]


@pytest.mark.parametrize("preset", ["clean", "original", "v1"])
def test_the_saved_tokenizer_json_applies_the_policy_alone(preset: str, tmp_path: Path) -> None:
    """tokenizer.json is what tokenizers users in other languages read: its normalizer, k-mer split and
    template must give our ids without any Python on top (single sequences and pairs)."""
    from tokenizers import Tokenizer

    fast = KmerTokenizerFast(k=4, preset=preset, strict=False)
    fast.save_pretrained(tmp_path)
    bare = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert [e.ids for e in bare.encode_batch(MESSY)] == fast(MESSY)["input_ids"]
    assert fast.tokenize(MESSY[0]) == ["ACGT", "ACGT", "TTAG"]
    assert bare.encode("ACGUacgu", add_special_tokens=False).tokens == ["ACGT", "ACGT"]  # RNA U read as T
    first, second = (
        fast(MESSY[0], add_special_tokens=False)["input_ids"],
        fast(MESSY[2], add_special_tokens=False)["input_ids"],
    )
    prefix = {"clean": [fast.cls_token_id], "original": [], "v1": [fast.mask_token_id]}[preset]
    separator = [fast.sep_token_id] if preset == "clean" else []
    assert bare.encode(MESSY[0], MESSY[2]).ids == prefix + first + separator + second + separator


@pytest.mark.parametrize("preset", ["clean", "original", "v1"])
def test_slow_tokenizer_round_trip_and_a_foreign_vocabulary(preset: str, tmp_path: Path) -> None:
    tok = KmerTokenizer(k=5, max_nucleotides=300, strict=False, preset=preset)
    specials = {"clean": ("[PAD]", "[CLS]"), "original": ("[UNK]", None), "v1": ("[UNK]", "[CLS]")}[preset]
    assert (tok.pad_token, tok.cls_token, tok.unk_token, tok.mask_token) == (*specials, "[UNK]", "[MASK]")
    assert tok.bos_token == ("[MASK]" if preset == "v1" else None)
    files = tok.save_pretrained(tmp_path)
    vocab = (tmp_path / "vocab.txt").read_text().split("\n")
    assert vocab[: len(tok.vocab)] == list(tok.vocab) and vocab[-1] == "" and str(tmp_path / "vocab.txt") in files
    loaded = KmerTokenizer.from_pretrained(tmp_path)
    assert (loaded.k, loaded.stride, loaded.max_nucleotides, loaded.preset, loaded.strict) == (5, 5, 300, preset, False)
    assert loaded("ACGTAXACGTA")["input_ids"] == tok("ACGTAXACGTA")["input_ids"]
    assert tok.save_vocabulary(str(tmp_path), filename_prefix="dna") == (str(tmp_path / "dna-vocab.txt"),)
    (tmp_path / "vocab.txt").write_text("\n".join(kmer_vocab(4, preset)) + "\n")
    with pytest.raises(ValueError, match=f"does not hold the k=5 '{preset}' vocabulary"):
        KmerTokenizer.from_pretrained(tmp_path)
    assert KmerTokenizer().k == KmerTokenizerFast().k == 8  # BIOSCAN-5M's 8-4-4 by default


@pytest.mark.parametrize("cls", BOTH)
def test_settings_survive_save_and_load(cls, tmp_path: Path) -> None:
    """Every k-mer setting is written to tokenizer_config.json and read back (AutoTokenizer, which always
    builds the fast class, only where the fast class can read the settings; otherwise it says what to do)."""
    stride = 2 if cls is KmerTokenizer else None  # the fast tokenizer reads non-overlapping k-mers only
    cls(k=5, stride=stride, max_nucleotides=300, preset="v1", strict=False).save_pretrained(tmp_path)
    loaded = [cls.from_pretrained(tmp_path)]
    if cls is KmerTokenizerFast:
        loaded.append(AutoTokenizer.from_pretrained(tmp_path))
        assert type(loaded[-1]) is KmerTokenizerFast
    for again in loaded:
        settings = (again.k, again.stride, again.max_nucleotides, again.preset, again.strict)
        assert settings == (5, stride or 5, 300, "v1", False)
        assert again.max_kmers == (300 - 5) // (stride or 5) + 1
    if cls is KmerTokenizer:
        with pytest.raises(ValueError, match=r"for a saved one: AutoTokenizer builds the fast"):
            AutoTokenizer.from_pretrained(tmp_path)  # transformers 5 builds the fast class, which cannot overlap


def test_k_and_preset_limits_are_named() -> None:
    from bioscan_hf.models.barcodebert.tokenization_barcodebert import _KmerEncodingMixin, special_tokens

    for k in (1, 12):  # the boundaries are accepted (k = 12 is checked without building its 16.7M-word vocabulary)
        _KmerEncodingMixin()._init_kmer_settings(k, None, 660, "clean", True, {})
    for k in (0, 13):
        with pytest.raises(ValueError, match=f"^k must be between 1 and 12, got {k}$"):
            KmerTokenizerFast(k=k)
    assert special_tokens("v1") == ["[MASK]", "[CLS]", "[UNK]"]
    with pytest.raises(ValueError, match=r"^unknown vocabulary preset 'bpe'; choose one of clean, original, v1$"):
        special_tokens("bpe")


def test_the_input_policy_defaults_and_messages() -> None:
    with pytest.raises(ValueError, match="^sequence 0: 'X' at position 3 is not a nucleotide"):
        normalize_barcode("ACGX")  # strict by default, the first sequence
    with pytest.raises(TypeError, match="^sequence 0: expected a str, got int$"):
        normalize_barcode(5)
    for cls in BOTH:
        with pytest.raises(TypeError, match="^sequence 1: expected a str, got int$"):
            cls(k=4)(["ACGT", 5])
        assert cls(k=4)("ACGUACGT")["input_ids"] == cls(k=4)("acgtACGT")["input_ids"] == [2, 32, 32, 3]  # U = T
    strict, lenient = KmerTokenizer(k=4), KmerTokenizer(k=4, strict=False)
    with pytest.raises(ValueError, match="^sequence 0: 'X' at position 7"):
        strict.tokenize("ACGTACGX")
    assert lenient.tokenize("ACGTACGX") == ["ACGT", "ACGX"] and lenient("ACGTACGX")["input_ids"] == [2, 32, 1, 3]
    with pytest.raises(ValueError, match="^sequence 0: 'é' at position 4 is not a nucleotide"):
        KmerTokenizer(k=4, stride=1)("ACGTé")  # overlapping k-mers: the same message, not a codec error
    fast = KmerTokenizerFast(k=4)
    assert fast.tokenize("ACGTACGT", pair="GGGGCCCC") == ["ACGT", "ACGT", "GGGG", "CCCC"]
    with pytest.raises(ValueError, match="^sequence 0: 'X' at position 3"):
        fast.tokenize("ACGX")
    assert KmerTokenizerFast(k=4, strict=False).tokenize("ACGX") == ["[UNK]"]


@pytest.mark.parametrize("cls", BOTH)
def test_options_the_vectorized_path_leaves_to_transformers(cls) -> None:
    """Words, overflowing tokens, offsets and pairs go through transformers' own path with every option;
    the vectorized path keeps transformers' rules for empty batches, max_length and truncation."""
    tok = cls(k=4)
    assert tok(["ACGT", "ACGG"], is_split_into_words=True)["input_ids"] == [2, 32, 31, 3]
    overflow = tok("ACGTACGTAAAACCCC", truncation=True, max_length=4, return_overflowing_tokens=True)
    assert {"overflowing_tokens", "overflow_to_sample_mapping"} & set(overflow)
    pair = tok("ACGTACGT", "GGGGCCCC", padding="max_length", max_length=10)
    assert pair["input_ids"] == [2, 32, 32, 3, 175, 90, 3, 0, 0, 0]
    if cls is KmerTokenizerFast:
        offsets = tok("ACGTACGT", return_offsets_mapping=True)["offset_mapping"]
        assert offsets == [(0, 0), (0, 4), (4, 8), (0, 0)]
    assert dict(tok([])) == {"input_ids": [], "attention_mask": []}
    if cls is KmerTokenizer:  # a list of ints is token ids to transformers' slow path: left to it
        assert tok([5, 6])["input_ids"] == [2, 5, 6, 3]
    assert tok([], padding=True, return_tensors="np")["input_ids"].shape == (0, 0)
    assert len(tok("ACGT" * 4, padding="max_length", max_length=3)["input_ids"]) == 6  # padding never truncates
    assert tok("ACGTACGT", truncation=True, max_length=2)["input_ids"] == [2, 3]
    with pytest.raises(ValueError, match="^max_length=1 leaves no room for the special tokens$"):
        tok("ACGT", truncation=True, max_length=1)
