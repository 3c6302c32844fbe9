"""The barcode alphabet and policy: one table (`POLICY`) from which every reader and encoder derives."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bioscan_hf.core import barcodes
from bioscan_hf.core.barcodes import (
    BASE_CODE,
    BASES,
    IUPAC_AMBIGUITY,
    NOT_A_BASE,
    POLICY,
    REMOVED,
    UNKNOWN,
    UNKNOWN_CODE,
    barcode_key,
    barcode_problem,
    base_codes,
    clean_barcode,
    normalize_barcode,
)


def test_the_policy_table_reads_every_letter_it_names() -> None:
    for letter in BASES + UNKNOWN:
        assert clean_barcode(letter) == letter and clean_barcode(letter.lower()) == letter
    for code in IUPAC_AMBIGUITY + IUPAC_AMBIGUITY.lower():
        assert POLICY[code] == UNKNOWN and clean_barcode(code) == UNKNOWN
    assert clean_barcode("uU") == "TT" and clean_barcode(REMOVED) == ""
    assert all(barcode_problem(f"ACGT{c}ACGT") is None for c in POLICY)
    assert barcode_problem("ACGTXACGT") == "not DNA: 'X' at position 4 ('ACGTXACGT')"


def test_one_base_code_table() -> None:
    for code, base in enumerate(BASES):
        assert BASE_CODE[ord(base)] == BASE_CODE[ord(base.lower())] == code
    assert BASE_CODE[ord(UNKNOWN)] == UNKNOWN_CODE
    others = set(range(256)) - {ord(c) for c in BASES + BASES.lower() + UNKNOWN}
    assert {int(BASE_CODE[b]) for b in others} == {NOT_A_BASE}
    assert base_codes("AcgTNé").tolist() == [0, 1, 2, 3, UNKNOWN_CODE, NOT_A_BASE]


def test_each_rule_has_one_home() -> None:
    """No other module of the package defines the IUPAC letters or a byte → base-code table."""
    from pathlib import Path

    package = Path(barcodes.__file__).resolve().parents[1]
    for path in package.rglob("*.py"):
        text = path.read_text()
        if path.name == "barcodes.py" and path.parent.name == "core":
            continue
        assert '"RYSWKMBDHV"' not in text, path
        assert "np.full(256" not in text, path


@pytest.mark.parametrize("sequence", ["acgu-.n ryNN", "NNACGTNN", "  ACGT\tacgt\n"])
def test_the_tokenizers_normalizer_is_the_same_policy(sequence: str) -> None:
    """The saved `tokenizers` normalizer (derived from `POLICY`) reads text as the Python policy does."""
    from bioscan_hf.models.barcodebert.tokenization_barcodebert import build_backend

    backend = build_backend(4, "clean", 1000)
    assert backend.normalizer.normalize_str(sequence) == normalize_barcode(sequence, strict=False)
    assert normalize_barcode(sequence, strict=False) == barcode_key(sequence)


def test_every_pair_of_policy_characters_normalizes_alike() -> None:
    from bioscan_hf.models.barcodebert.tokenization_barcodebert import build_backend

    backend = build_backend(4, "clean", 1000)
    for a, b in itertools.product(sorted(POLICY), repeat=2):
        text = f"AC{a}{b}GT"
        assert backend.normalizer.normalize_str(text) == normalize_barcode(text, strict=False), repr(text)


def test_kmer_profiles_and_seeds_read_the_same_codes() -> None:
    from bioscan_hf.embedding.kmer import kmer_profiles
    from bioscan_hf.search.seeds import seed_codes

    sequence = "ACGTACGTTGCAACGTTTGACCA"
    np.testing.assert_array_equal(kmer_profiles([sequence], k=3), kmer_profiles([sequence.lower()], k=3))
    assert len(seed_codes(sequence + UNKNOWN * 20)) == len(seed_codes(sequence))
