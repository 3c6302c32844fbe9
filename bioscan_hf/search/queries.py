"""Barcode queries as people paste or upload them (raw or FASTA text), for `Searcher` and the Space."""

from __future__ import annotations

from bioscan_hf.core.barcodes import barcode_key, barcode_problem
from bioscan_hf.core.errors import UserError
from bioscan_hf.data.sources import fasta_records

#: Longest query text read (a COI barcode is ~658 nt).
MAX_QUERY_NUCLEOTIDES = 5_000


class QueryError(UserError, ValueError):
    """A query that cannot be answered (not DNA, empty, too long, not an image, unknown processid)."""


def parse_dna_records(text: str) -> list[tuple[str, str]]:
    """(name, barcode) of every record of pasted or uploaded text: FASTA (each `>` header starts a
    record), or one raw sequence (name ""). Raises `QueryError` naming the record that is unusable."""
    lines = enumerate((text or "").splitlines(), start=1)
    records = [(header or "", sequence) for header, sequence, _ in fasta_records(lines)]
    if not any(sequence for _, sequence in records):
        raise QueryError("the query is empty: paste a DNA barcode (raw or FASTA)")
    parsed = []
    for number, (name, sequence) in enumerate(records, start=1):
        label = f"record {number} ({name})" if len(records) > 1 or name else "the query"
        if len(sequence) > MAX_QUERY_NUCLEOTIDES:
            raise QueryError(
                f"{label} has {len(sequence):,} characters; a COI barcode is ~658 nt (limit {MAX_QUERY_NUCLEOTIDES:,})"
            )
        problem = barcode_problem(sequence)
        if problem:
            raise QueryError(f"{label}: {problem}; a barcode holds A, C, G, T, N (IUPAC codes and gaps are read)")
        parsed.append((name, barcode_key(sequence)))
    return parsed


def parse_dna_query(text: str) -> str:
    """The barcode of a single-record query (raw or FASTA); the first record of several."""
    return parse_dna_records(text)[0][1]
