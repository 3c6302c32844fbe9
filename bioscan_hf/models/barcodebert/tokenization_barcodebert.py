"""Non-overlapping k-mer tokenizers for DNA barcodes (BarcodeBERT).

Two classes with identical ids: `KmerTokenizer` (Python) and `KmerTokenizerFast` (the `tokenizers`
library: normalizer + `FixedLength` pre-tokenizer + `WordLevel` model, giving `tokenizer.json`). Both
encode batches through one vectorized NumPy encoder, far faster than per-sequence tokenizing.

Input policy, the same on every path: the package's barcode policy (`bioscan_hf.core.barcodes`: gaps and
whitespace removed, upper case, `U` as `T`, IUPAC codes as `N`), trailing `N` padding stripped, leading `N`s
kept; a k-mer holding `N` (or, when not strict, any other letter) is `[UNK]`, and so is a short final k-mer
(the original completed sequences with `N`), but the "original" preset leaves it out, as BarcodeBERT's and
BarcodeMAE's code masked it; sequences longer than `max_nucleotides` are cut there (a warning counts them);
`strict=True` (default) raises on non-nucleotides and on empty sequences.

Vocabulary presets: `"clean"` (default): `[PAD] [UNK] [CLS] [SEP] [MASK]`, then the 4^k k-mers, inputs
wrapped as `[CLS] … [SEP]`. `"original"`: the published BarcodeBERT order, `[MASK]`=0, `[UNK]`=1, then
the k-mers from 2, no `[CLS]`/`[SEP]`, padding with `[UNK]` (masked out by `attention_mask`), so original
checkpoints map one to one. `"v1"`: the first BarcodeBERT release (the k=4/5/6 paper models and the k=5
model inside the published CLIBD): `[MASK]`=0, `[CLS]`=1, `[UNK]`=2, k-mers from 3, and each input
starts with id 0, as the published pipeline wrote it (`[0, *vocab(kmers)]`); padding with `[UNK]`.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch
from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel
from transformers.tokenization_python import PythonBackend
from transformers.tokenization_utils_base import BatchEncoding, PaddingStrategy, TruncationStrategy
from transformers.tokenization_utils_tokenizers import TokenizersBackend

from bioscan_hf.core.barcodes import (  # rewritten to `.barcodes` in saved folders (write_module_files)
    BASES,
    NOT_NUCLEOTIDE,
    POLICY,
    TRANSLATION,
    UNKNOWN,
    UNKNOWN_CODE,
    base_codes,
    check_codes,
    normalize_barcode,
    regex_class,
)

logger = logging.getLogger(__name__)
#: (tokenizer class, max_nucleotides) whose truncation this process has told of: said once, not per tokenizer.
TRUNCATION_SAID: set[tuple[str, int]] = set()

PRESETS = ("clean", "original", "v1")

#: How this module imports the barcode policy, and how a saved folder's copy imports it from beside itself.
_POLICY_IMPORT = ("from bioscan_hf.core.barcodes import", "from .barcodes import")


def write_module_files(folder: str | os.PathLike) -> list[str]:
    """Write this module and the barcode policy it imports (`barcodes.py`) into `folder`, the import made
    folder-local, so a folder naming the tokenizer in its `auto_map` loads with `trust_remote_code=True`
    where bioscan-hf is not installed. Returns the file names written."""
    source = Path(__file__).read_text(encoding="utf-8").replace(*_POLICY_IMPORT)
    (Path(folder) / Path(__file__).name).write_text(source, encoding="utf-8")
    (Path(folder) / "barcodes.py").write_text(
        Path(sys.modules[regex_class.__module__].__file__).read_text(encoding="utf-8"), encoding="utf-8"
    )
    return [Path(__file__).name, "barcodes.py"]


#: The tokens framing each input's k-mers when special tokens are added, per preset: (before, after).
#: One table for the vectorized encoder, the slow tokenizer's pattern and the tokenizer.json template.
FRAMES: dict[str, tuple[str | None, str | None]] = {
    "clean": ("[CLS]", "[SEP]"),
    "original": (None, None),
    "v1": ("[MASK]", None),  # the published pipeline's leading id 0
}

#: Each preset's special tokens in id order, and the transformers keywords naming them (original and v1 pad
#: with [UNK]: their [MASK]=0 must not double as padding; v1's inputs begin with [MASK] as a bos token).
SPECIALS: dict[str, tuple[list[str], dict[str, str]]] = {
    "clean": (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], {"pad_token": "[PAD]", "sep_token": "[SEP]"}),
    "original": (["[MASK]", "[UNK]"], {"pad_token": "[UNK]"}),
    "v1": (["[MASK]", "[CLS]", "[UNK]"], {"pad_token": "[UNK]", "bos_token": "[MASK]"}),
}


def special_tokens(preset: str) -> list[str]:
    """Special tokens of a vocabulary preset, in id order."""
    if preset in SPECIALS:
        return list(SPECIALS[preset][0])
    raise ValueError(f"unknown vocabulary preset {preset!r}; choose one of {', '.join(PRESETS)}")


def kmer_vocab(k: int, preset: str = "clean") -> dict[str, int]:
    """Special tokens, then every k-mer over ACGT in `itertools.product(BASES)` order."""
    tokens = special_tokens(preset) + ["".join(p) for p in itertools.product(BASES, repeat=k)]
    return {token: i for i, token in enumerate(tokens)}


class _KmerEncodingMixin:
    """The vectorized batch encoder shared by both tokenizer classes."""

    model_input_names = ["input_ids", "attention_mask"]

    def save_pretrained(self, save_directory: str | os.PathLike, *args, **kwargs) -> tuple[str, ...]:
        """transformers' save, then (a tokenizer registered for the Auto classes) the module files that
        `trust_remote_code` loads (`write_module_files`); with `push_to_hub=True` the finished folder is
        uploaded (`push_to_hub`, which saves the same way)."""
        push = kwargs.pop("push_to_hub", False)
        files = super().save_pretrained(save_directory, *args, **kwargs)
        if self._auto_class:
            write_module_files(save_directory)
        if push:
            accepted = inspect.signature(self.push_to_hub).parameters
            repo_id = kwargs.pop("repo_id", Path(save_directory).name)
            self.push_to_hub(repo_id, **{key: value for key, value in kwargs.items() if key in accepted})
        return files

    def _init_kmer_settings(
        self, k: int, stride: int | None, max_nucleotides: int, preset: str, strict: bool, kwargs: dict
    ) -> None:
        """Set the k-mer settings and fill the base class's keyword defaults (special tokens, max length)."""
        if k < 1 or k > 12:
            raise ValueError(f"k must be between 1 and 12, got {k}")
        self.k = k
        self.stride = stride or k
        self.max_nucleotides = max_nucleotides
        self.preset = preset
        self.strict = strict
        self.kmer_offset = len(special_tokens(preset))
        self.max_kmers = (max_nucleotides - k) // self.stride + 1
        self.prefix_token, self.suffix_token = FRAMES[preset]
        self.truncated_count = 0
        for key, value in _special_kwargs(preset).items():
            kwargs.setdefault(key, value)
        kwargs.setdefault("model_max_length", self.max_kmers + self.n_special_added)

    @property
    def n_special_added(self) -> int:
        """How many special tokens surround the k-mers of one input."""
        return (self.prefix_token is not None) + (self.suffix_token is not None)

    def _split_kmers(self, text: str) -> list[str]:
        """The k-mer strings of one normalized sequence (a short final piece: see the module docstring)."""
        starts = range(0, len(text[: self.max_nucleotides]), self.stride)
        kmers = [text[p : p + self.k] for p in starts][: self.max_kmers]
        short_tail = self.preset == "original" and len(kmers) > 1 and len(kmers[-1]) < self.k
        return kmers[:-1] if short_tail else kmers

    def encode_kmers(self, sequences: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """k-mer ids of a batch (no special tokens) as one flat array, and the number of k-mers per sequence.

        Sequences are normalised one by one with `str.translate` (C speed); everything else — validation,
        windows, ids — runs on the bytes of the whole batch at once with NumPy.
        """
        try:
            texts = [s.translate(TRANSLATION).rstrip(UNKNOWN) for s in sequences]
        except (AttributeError, TypeError):
            bad = next(i for i, s in enumerate(sequences) if not isinstance(s, str))
            raise TypeError(f"sequence {bad}: expected a str, got {type(sequences[bad]).__name__}") from None
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        self._count_truncations(int((lengths > self.max_nucleotides).sum()))
        # Only the first max_kmers windows are used: for k=8 and 660 nt, 82 k-mers covering 656 nt.
        used = np.minimum(lengths, (self.max_kmers - 1) * self.stride + self.k)
        n_kmers = -(-used // self.stride)
        if self.stride == self.k:
            if self.preset == "original":  # the published code masks a short final k-mer out: leave it out
                n_kmers = np.maximum(used // self.k, np.minimum(n_kmers, 1))
            return self._non_overlapping_ids(sequences, texts, lengths, n_kmers), n_kmers
        codes = base_codes("".join(texts))
        if self.strict:
            check_codes(sequences, lengths, lengths, codes)
        offsets = np.cumsum(lengths) - lengths
        rows, within = _ragged_index(n_kmers)
        starts = offsets[rows] + within * self.stride
        ends = (offsets + used)[rows]
        codes = np.concatenate([codes, np.full(self.k, UNKNOWN_CODE, dtype=np.uint8)])
        value = np.zeros(len(starts), dtype=np.int64)
        unknown = np.zeros(len(starts), dtype=bool)
        for t in range(self.k):
            code = codes[starts + t]
            unknown |= (code >= UNKNOWN_CODE) | (starts + t >= ends)
            value = value * 4 + np.minimum(code, 3)
        return np.where(unknown, self.unk_token_id, value + self.kmer_offset), n_kmers

    def _non_overlapping_ids(
        self, sequences: list[str], texts: list[str], lengths: np.ndarray, n_kmers: np.ndarray
    ) -> np.ndarray:
        """Ids when stride = k: each text is cut to its `n_kmers` k-mers and N-padded to a multiple of k, so
        the batch's bytes reshape to one k-mer per row (a short final k-mer holds N and becomes [UNK])."""
        k, stored = self.k, n_kmers * self.k
        fill = [UNKNOWN * i for i in range(k)]
        pieces = [t[:n] if len(t) >= n else t + fill[n - len(t)] for t, n in zip(texts, stored.tolist())]
        codes = base_codes("".join(pieces))
        if self.strict:
            check_codes(sequences, lengths, stored, codes)
            for i in np.flatnonzero(lengths > stored):  # the cut-off tails are checked too
                if NOT_NUCLEOTIDE.search(texts[i], int(stored[i])):
                    normalize_barcode(sequences[i], int(i), strict=True)
        unknown = codes >= UNKNOWN_CODE
        if k in (1, 2, 4, 8):  # a k-mer's flags are k adjacent bytes: read them as one integer
            unknown = unknown.view(f"u{k}") != 0
        else:
            unknown = unknown.reshape(-1, k).any(axis=1)
        bases = np.minimum(codes, 3).reshape(-1, k)
        value = bases[:, 0].astype(np.int32)
        for t in range(1, k):
            value <<= 2
            value |= bases[:, t]
        return np.where(unknown, self.unk_token_id, value + self.kmer_offset)

    def _count_truncations(self, too_long: int) -> None:
        said = (type(self).__name__, self.max_nucleotides)
        if too_long and said not in TRUNCATION_SAID:
            TRUNCATION_SAID.add(said)
            message = "%d sequence(s) longer than %d nt were truncated; later truncations are counted in %s"
            logger.warning(message, too_long, self.max_nucleotides, "tokenizer.truncated_count")
        self.truncated_count += too_long

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def _encode_plus(self, text, text_pair=None, **kwargs) -> BatchEncoding:
        vectorizable = (
            text_pair is None
            and not kwargs.get("is_split_into_words")
            and not kwargs.get("return_overflowing_tokens")
            and not kwargs.get("return_offsets_mapping")
            and (isinstance(text, str) or (isinstance(text, (list, tuple)) and (not text or isinstance(text[0], str))))
        )
        if not vectorizable:
            return super()._encode_plus(text=text, text_pair=text_pair, **kwargs)
        return self._encode_batch(text, **kwargs)

    def _encode_batch(
        self,
        text: str | list[str],
        add_special_tokens: bool = True,
        padding_strategy: PaddingStrategy = PaddingStrategy.DO_NOT_PAD,
        truncation_strategy: TruncationStrategy = TruncationStrategy.DO_NOT_TRUNCATE,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors=None,
        return_attention_mask: bool | None = None,
        return_special_tokens_mask: bool = False,
        return_length: bool = False,
        **_: object,
    ) -> BatchEncoding:
        single = isinstance(text, str)
        ids, n_kmers = self.encode_kmers([text] if single else list(text))
        prefix = int(add_special_tokens and self.prefix_token is not None)
        suffix = int(add_special_tokens and self.suffix_token is not None)
        extra = prefix + suffix
        if truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE and max_length is not None:
            if max_length < extra:
                raise ValueError(f"max_length={max_length} leaves no room for the special tokens")
            _, within = _ragged_index(n_kmers)
            ids = ids[within < max_length - extra]
            n_kmers = np.minimum(n_kmers, max_length - extra)
        lengths = n_kmers + extra
        padded = padding_strategy != PaddingStrategy.DO_NOT_PAD
        width = int(lengths.max(initial=0))
        if padding_strategy == PaddingStrategy.MAX_LENGTH:
            width = max(max_length or self.model_max_length, width)
        if padded and pad_to_multiple_of:
            width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
        left = padded and (padding_side or self.padding_side) == "left"
        shift = width - lengths if left else np.zeros_like(lengths)
        batch = np.arange(len(lengths))
        matrix = np.full((len(lengths), width), self.pad_token_id, dtype=np.int64)
        if left:
            rows, within = _ragged_index(n_kmers)
            matrix[rows, within + prefix + shift[rows]] = ids
        else:  # row-major boolean assignment keeps the flat ids' order, without index arrays
            kmer_columns = matrix[:, prefix : prefix + int(n_kmers.max(initial=0))]
            kmer_columns[np.arange(kmer_columns.shape[1])[None, :] < n_kmers[:, None]] = ids
        special = np.zeros(matrix.shape, dtype=bool)
        if prefix:
            matrix[batch, shift] = self.convert_tokens_to_ids(self.prefix_token)
            special[batch, shift] = True
        if suffix:
            matrix[batch, shift + prefix + n_kmers] = self.convert_tokens_to_ids(self.suffix_token)
            special[batch, shift + prefix + n_kmers] = True
        columns = np.arange(width)[None, :]
        mask = (columns >= shift[:, None]) & (columns < (shift + lengths)[:, None])
        data = {"input_ids": matrix}
        if return_attention_mask is not False:
            data["attention_mask"] = mask.astype(np.int64)
        if return_special_tokens_mask:
            data["special_tokens_mask"] = (special | ~mask).astype(np.int64)
        out: dict = {}
        for key, array in data.items():
            if padded and return_tensors in ("pt", "np") and not single:
                out[key] = torch.from_numpy(array) if return_tensors == "pt" else array  # no Python lists
            elif padded and return_tensors is not None and not single:
                out[key] = array
            elif padded:
                out[key] = array[0].tolist() if single else array.tolist()
            else:
                rows_list = [row[:n].tolist() for row, n in zip(array, lengths)]
                out[key] = rows_list[0] if single else rows_list
        converted = padded and return_tensors in ("pt", "np") and not single
        if return_length and converted:
            out["length"] = torch.from_numpy(lengths) if return_tensors == "pt" else lengths
        elif return_length:
            out["length"] = int(lengths[0]) if single else lengths.tolist()
        # one sequence with return_tensors gets a batch axis of 1, as on transformers' own path
        return BatchEncoding(out, tensor_type=None if converted else return_tensors, prepend_batch_axis=single)


def _ragged_index(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For items laid out back to back, `counts[i]` per row: each item's row and position within it."""
    rows = np.repeat(np.arange(len(counts)), counts)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return rows, within


def _special_kwargs(preset: str) -> dict[str, str]:
    tokens, roles = SPECIALS[preset]
    named = {"mask_token": "[MASK]", "unk_token": "[UNK]", "cls_token": "[CLS]"}
    return {**{role: token for role, token in named.items() if token in tokens}, **roles}


class KmerTokenizer(_KmerEncodingMixin, PythonBackend):
    """Python k-mer tokenizer for DNA barcodes (see the module docstring for the policy)."""

    vocab_files_names = {"vocab_file": "vocab.txt"}

    def __init__(
        self,
        vocab_file: str | None = None,
        k: int = 8,
        stride: int | None = None,
        max_nucleotides: int = 660,
        preset: str = "clean",
        strict: bool = True,
        **kwargs,
    ) -> None:
        self._init_kmer_settings(k, stride, max_nucleotides, preset, strict, kwargs)
        self.vocab = kmer_vocab(k, preset)
        if vocab_file is not None:
            with open(vocab_file, encoding="utf-8") as handle:
                saved = [line.rstrip("\n") for line in handle]
            if saved != list(self.vocab):
                raise ValueError(f"{vocab_file} does not hold the k={k} {preset!r} vocabulary")
        self.ids_to_tokens = list(self.vocab)
        patterns = {("[CLS]", "[SEP]"): "cls_sep", ("[MASK]", None): "bos", (None, None): "none"}
        kwargs.setdefault("special_tokens_pattern", patterns[FRAMES[preset]])
        super().__init__(
            k=k, stride=self.stride, max_nucleotides=max_nucleotides, preset=preset, strict=strict, **kwargs
        )

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return self._split_kmers(normalize_barcode(text, strict=self.strict))

    def _convert_token_to_id(self, token: str) -> int:
        return self.vocab.get(token, self.vocab["[UNK]"])

    def _convert_id_to_token(self, index: int) -> str:
        return self.ids_to_tokens[index]

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        path = os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") + "vocab.txt")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(self.vocab) + "\n")
        return (path,)


def build_backend(k: int, preset: str, max_kmers: int) -> Tokenizer:
    """The `tokenizers` pipeline: policy normalizer → FixedLength(k) → WordLevel → the preset's frame.

    The normalizer applies the input policy and keeps the first `max_kmers` k-mers' worth of bases (the
    "original" preset: without a short final k-mer).
    """
    vocab = kmer_vocab(k, preset)
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    readings: dict[str, str] = {}  # target letter → the characters the policy reads as it
    for character, target in POLICY.items():
        if target is not None:
            readings[target] = readings.get(target, "") + character
    removed = "".join(c for c, target in POLICY.items() if target is None)
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(regex_class(removed)), ""),
            *[normalizers.Replace(Regex(regex_class(chars)), target) for target, chars in readings.items()],
            normalizers.Replace(Regex(f"{UNKNOWN}+$"), ""),
            normalizers.Replace(Regex(rf"\A.{{{max_kmers * k}}}\K[\s\S]+"), ""),
            *[normalizers.Replace(Regex(rf"\A(?:.{{{k}}})+\K.{{1,{k - 1}}}\z"), "")] * (preset == "original" and k > 1),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.FixedLength(length=k)
    tokenizer.decoder = decoders.Fuse()
    before, after = FRAMES[preset]
    if before or after:
        framed = [token for token in (before, "$A", after) if token]
        tail = [token for token in ("$B", after) if token]
        tokenizer.post_processor = processors.TemplateProcessing(
            single=" ".join(framed),
            pair=" ".join(framed + tail),
            special_tokens=[(token, vocab[token]) for token in (before, after) if token],
        )
    return tokenizer


class KmerTokenizerFast(_KmerEncodingMixin, TokenizersBackend):
    """k-mer tokenizer backed by the `tokenizers` library (non-overlapping k-mers: stride = k)."""

    vocab_files_names = {"tokenizer_file": "tokenizer.json"}
    slow_tokenizer_class = KmerTokenizer

    def __init__(
        self,
        k: int = 8,
        stride: int | None = None,
        max_nucleotides: int = 660,
        preset: str = "clean",
        strict: bool = True,
        **kwargs,
    ) -> None:
        if stride not in (None, k):
            raise ValueError(
                f"KmerTokenizerFast uses non-overlapping k-mers (stride = k); for stride={stride} use KmerTokenizer "
                "(KmerTokenizer.from_pretrained(path) for a saved one: AutoTokenizer builds the fast class)"
            )
        self._init_kmer_settings(k, stride, max_nucleotides, preset, strict, kwargs)
        kwargs.pop("tokenizer_file", None)
        kwargs.pop("tokenizer_object", None)
        self._tokenizer = build_backend(k, preset, self.max_kmers)
        super().__init__(
            k=k, stride=self.stride, max_nucleotides=max_nucleotides, preset=preset, strict=strict, **kwargs
        )

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs) -> list[str]:
        """k-mer strings from the `tokenizers` pipeline (the policy is checked first in strict mode)."""
        if self.strict:
            normalize_barcode(text)
        return self._tokenizer.encode(text, pair, add_special_tokens=add_special_tokens).tokens
