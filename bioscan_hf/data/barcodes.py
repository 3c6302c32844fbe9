"""The barcode policy of the data layer: how a COI barcode is cleaned, checked and grouped.

The same policy as the k-mer tokenizer (tests check they agree): whitespace, alignment gaps `-` and
`.` are removed, lower case is upper-cased, RNA `U` reads as `T`, IUPAC ambiguity codes become `N`.
Trailing `N`s are padding, so two records whose barcodes differ only by gaps, case or trailing `N`
carry the same barcode: `barcode_key` is what the partition rules group on (SPEC §1.3).
"""

from __future__ import annotations

import re

IUPAC_AMBIGUITY = "RYSWKMBDHV"
_REMOVED = " \t\r\n\v\f-."
_TRANSLATION = str.maketrans(
    {
        "u": "T",
        "U": "T",
        **dict.fromkeys(IUPAC_AMBIGUITY + IUPAC_AMBIGUITY.lower(), "N"),
        **dict.fromkeys(_REMOVED, None),
    }
)
_LETTERS = "ACGTUN" + IUPAC_AMBIGUITY
#: A character a barcode text may not hold (before cleaning), as a regular expression: anything but the
#: letters the policy reads (either case) and the gaps and whitespace it removes.
NOT_DNA_TEXT = "[^" + re.escape(_LETTERS + _LETTERS.lower() + _REMOVED) + "]"
_NOT_DNA = re.compile(NOT_DNA_TEXT)


def clean_barcode(text: str) -> str:
    """Upper case, no gaps or whitespace, `U` as `T`, ambiguity codes as `N` (trailing `N` kept)."""
    return text.upper().translate(_TRANSLATION)


def barcode_key(text: str) -> str:
    """The barcode a record carries, for grouping: cleaned, trailing `N` padding removed."""
    return clean_barcode(text).rstrip("N")


def barcode_problem(text: str | None) -> str | None:
    """Why a barcode cannot be used (empty, or a character that is not a nucleotide), or None."""
    text = text or ""
    bad = _NOT_DNA.search(text)
    if bad:
        return f"not DNA: {bad.group()!r} at position {bad.start()} ({_preview(text)})"
    if not barcode_key(text):
        return "empty barcode (nothing but gaps, whitespace or N)" if text else "empty barcode"
    return None


def _preview(text: str, width: int = 24) -> str:
    return repr(text[:width] + ("…" if len(text) > width else ""))
