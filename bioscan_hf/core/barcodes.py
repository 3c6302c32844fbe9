"""The barcode alphabet and cleaning policy: one table from which every reader, encoder and tokenizer of
the package derives its rules (the data layer's checks, the k-mer tokenizer's vectorized path and its
saved `tokenizers` normalizer, the k-mer profile and spaced-seed encoders, the CNN's base ids, the Space's
query check).

The policy: whitespace, alignment gaps `-` and `.` are removed, lower case is upper-cased, RNA `U` reads
as `T`, IUPAC ambiguity codes become `N`. Trailing `N`s are padding, so two records whose barcodes differ
only by gaps, case or trailing `N` carry the same barcode: `barcode_key` is what the partition rules
group on (SPEC §1.3).
"""

from __future__ import annotations

import re

import numpy as np

#: The four nucleotides, in the order of every base code and k-mer vocabulary.
BASES = "ACGT"
#: An unknown base.
UNKNOWN = "N"
#: IUPAC codes for two or more possible bases: read as `N`.
IUPAC_AMBIGUITY = "RYSWKMBDHV"
#: Characters removed before anything else: whitespace and alignment gaps.
REMOVED = " \t\r\n\v\f-."

#: The policy as one table: character → what it is read as (None: removed). Upper-case nucleotides are
#: read as themselves; any character not in the table is not DNA.
POLICY: dict[str, str | None] = {
    **{base.lower(): base for base in BASES + UNKNOWN},
    "u": "T",
    "U": "T",
    **dict.fromkeys(IUPAC_AMBIGUITY + IUPAC_AMBIGUITY.lower(), UNKNOWN),
    **dict.fromkeys(REMOVED, None),
}
TRANSLATION = str.maketrans(POLICY)
#: Every character a barcode text may hold before cleaning.
DNA_TEXT_LETTERS = BASES + UNKNOWN + "".join(POLICY)
#: A character a barcode text may not hold (before cleaning), as a regular expression.
NOT_DNA_TEXT = "[^" + re.escape(DNA_TEXT_LETTERS) + "]"
_NOT_DNA = re.compile(NOT_DNA_TEXT)
_DNA_TEXT_BYTES = DNA_TEXT_LETTERS.encode("ascii")
#: A character that is not a nucleotide after cleaning.
NOT_NUCLEOTIDE = re.compile(f"[^{BASES}{UNKNOWN}]")

#: Byte → base code: A, C, G, T (either case) → 0–3, N → 4, any other byte → 5 (`NOT_A_BASE`).
UNKNOWN_CODE, NOT_A_BASE = len(BASES), len(BASES) + 1
BASE_CODE = np.full(256, NOT_A_BASE, dtype=np.uint8)
for _code, _base in enumerate(BASES):
    BASE_CODE[ord(_base)] = BASE_CODE[ord(_base.lower())] = _code
BASE_CODE[ord(UNKNOWN)] = UNKNOWN_CODE


def base_codes(text: str) -> np.ndarray:
    """`BASE_CODE` of each character of `text` (uint8; a non-ASCII character is `NOT_A_BASE`)."""
    return BASE_CODE[np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)]


_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def reverse_complement(sequence: str) -> str:
    """The other strand of a cleaned barcode, read 5' to 3' (`N` stays `N`)."""
    return sequence.translate(_COMPLEMENT)[::-1]


def regex_class(characters: str) -> str:
    """A character class matching `characters`, written with `\\xHH` escapes, so that Python's `re` and
    the Oniguruma engine of `tokenizers` read it alike."""
    return "[" + "".join(f"\\x{ord(c):02X}" for c in characters) + "]"


def clean_barcode(text: str) -> str:
    """Upper case, no gaps or whitespace, `U` as `T`, ambiguity codes as `N` (trailing `N` kept)."""
    return text.upper().translate(TRANSLATION)


def barcode_key(text: str) -> str:
    """The barcode a record carries, for grouping: cleaned, trailing `N` padding removed."""
    return clean_barcode(text).rstrip(UNKNOWN)


def barcode_length(sequence: str) -> int:
    """The bases of a cleaned barcode, `N` padding at either end not counted (what an alignment's coverage
    is a share of, and what a calibration's shortest query is measured in)."""
    return len(sequence.strip(UNKNOWN))


def barcode_problem(text: str | None) -> str | None:
    """Why a barcode cannot be used (empty, or a character that is not a nucleotide), or None."""
    text = text or ""
    bad = None if _all_dna_text(text) else _NOT_DNA.search(text)
    if bad:
        return f"not DNA: {bad.group()!r} at position {bad.start()} ({_preview(text)})"
    if not barcode_key(text):
        return "empty barcode (nothing but gaps, whitespace or N)" if text else "empty barcode"
    return None


def _all_dna_text(text: str) -> bool:
    """Whether every character of `text` is in `DNA_TEXT_LETTERS`: its bytes with those deleted leave none
    (~10× faster than searching with `_NOT_DNA`, which then names the first one that is not)."""
    try:
        return not text.encode("ascii").translate(None, _DNA_TEXT_BYTES)
    except UnicodeEncodeError:
        return False


def normalize_barcode(sequence: str, index: int = 0, strict: bool = True) -> str:
    """The policy applied to one sequence, trailing `N` padding stripped (the tokenizers' input); `strict`:
    raise on a character that is not DNA or an empty result. `index` names the sequence in errors."""
    if not isinstance(sequence, str):
        raise TypeError(f"sequence {index}: expected a str, got {type(sequence).__name__}")
    text = sequence.translate(TRANSLATION).rstrip(UNKNOWN)
    if strict:
        bad = NOT_NUCLEOTIDE.search(text)
        if bad:
            raise ValueError(
                f"sequence {index}: {bad.group()!r} at position {bad.start()} is not a nucleotide "
                f"(A, C, G, T/U, IUPAC codes, N, gaps); pass strict=False to read it as unknown"
            )
        if not text:
            raise ValueError(f"sequence {index}: empty after removing gaps, whitespace and trailing N padding")
    return text


def check_codes(sequences: list[str], lengths: np.ndarray, stored: np.ndarray, codes: np.ndarray) -> None:
    """Raise, naming the sequence, on an empty sequence or a character that is not DNA in a batch's codes.

    `stored` is how many base codes each sequence occupies in `codes` (after cutting and padding).
    """
    empty = np.flatnonzero(lengths == 0)
    invalid = np.flatnonzero(codes == NOT_A_BASE) if codes.max(initial=0) == NOT_A_BASE else np.zeros(0, dtype=np.int64)
    if invalid.size:
        first = int(np.searchsorted(np.cumsum(stored), invalid[0], side="right"))
        if not empty.size or empty[0] > first:
            normalize_barcode(sequences[first], first, strict=True)  # raises with the character's position
    if empty.size:
        normalize_barcode(sequences[int(empty[0])], int(empty[0]), strict=True)


def _preview(text: str, width: int = 24) -> str:
    return repr(text[:width] + ("…" if len(text) > width else ""))
