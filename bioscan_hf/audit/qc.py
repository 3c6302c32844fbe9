"""Barcode quality: what is wrong with a barcode whatever its label says.

- A frameshift: COI-5P codes for protein, so a real barcode reads through without a stop codon in one of
  its three forward frames (its `END_MARGIN` bases at either end aside). A base inserted or lost (a
  sequencing error) or a nuclear pseudogene (NUMT) puts stops in every frame. Stops are those of NCBI's
  genetic code 5, the invertebrate mitochondrial one (`STOP_CODONS`: TAA and TAG; TGA reads tryptophan,
  AGA/AGG serine).
- Ambiguous bases: more than `MAX_AMBIGUOUS` of the barcode's bases (between its first and last called
  base) are `N` or IUPAC codes (BOLD's barcode standard allows under 1%).
- A fragment: shorter than `SHORT_SHARE` of the median length of its nearest references.
"""

from __future__ import annotations

import numpy as np

from bioscan_hf.audit.findings import Finding
from bioscan_hf.core.barcodes import BASE_CODE, base_codes

#: Stop codons of NCBI's genetic code 5 (invertebrate mitochondrial).
STOP_CODONS = ("TAA", "TAG")
#: Bases at either end where a stop is not counted: read ends are where sequencing errors and leftover
#: primer or vector sit, and a base lost there does not make a pseudogene.
END_MARGIN = 15
MAX_AMBIGUOUS = 0.01
SHORT_SHARE = 0.5
#: How sure a finding is that the barcode is damaged: a frameshift is an indel or a pseudogene; the
#: ambiguity score grows from `AMBIGUOUS_SCORES[0]` at 1% of bases to `[1]` at 5%; a fragment is not wrong
#: in itself, so it ranks below the rest.
FRAMESHIFT_SCORE = 0.95
AMBIGUOUS_SCORES = (0.8, 0.95)
SHORT_SCORE = 0.6

_STOP = np.zeros((6, 6, 6), dtype=bool)
for _codon in STOP_CODONS:
    _STOP[tuple(BASE_CODE[ord(c)] for c in _codon)] = True


def stop_codons(sequence: str) -> list[np.ndarray]:
    """Per forward frame (0, 1, 2), the 0-based positions where a stop codon starts."""
    codes = base_codes(sequence)
    if len(codes) < 3:
        return [np.zeros(0, dtype=np.int64)] * 3
    starts = np.flatnonzero(_STOP[codes[:-2], codes[1:-1], codes[2:]])
    return [starts[starts % 3 == frame] for frame in range(3)]


def inner_stop_codons(sequence: str) -> list[np.ndarray]:
    """`stop_codons`, leaving out those within `END_MARGIN` bases of either end."""
    return [s[(s >= END_MARGIN) & (s + 3 <= len(sequence) - END_MARGIN)] for s in stop_codons(sequence)]


def longest_open_stretch(sequence: str, stops: list[np.ndarray]) -> tuple[int, int]:
    """The longest stretch read in one frame without a stop (1-based first and last base)."""
    best = (0, 0)
    for frame, positions in enumerate(stops):
        bounds = np.concatenate([[frame - 3], positions, [len(sequence) - (len(sequence) - frame) % 3]])
        lengths = np.diff(bounds) - 3
        i = int(np.argmax(lengths))
        if lengths[i] > best[1] - best[0]:
            best = (int(bounds[i]) + 3, int(bounds[i]) + 3 + int(lengths[i]))
    return best[0] + 1, best[1]


def frameshift(sequence: str) -> str | None:
    """What a frameshift looks like in `sequence` (stops in all three frames), or None."""
    core = sequence.strip("N")
    stops = inner_stop_codons(core)
    if not all(len(s) for s in stops):
        return None
    first, last = longest_open_stretch(core, stops)
    where = (
        f"near base {last}"
        if first <= 3
        else f"near base {first}"
        if last >= len(core) - 3
        else f"near base {first} or {last}"
    )
    return (
        f"frameshift: stop codons in all three frames (NCBI code 5: TAA, TAG; first at bases "
        f"{', '.join(str(int(s[0]) + 1) for s in stops)}); the longest open stretch is bases {first}–{last} of "
        f"{len(core)}: a base inserted or lost {where}, or a pseudogene"
    )


def ambiguity(sequence: str) -> float:
    """Share of ambiguous bases (`N`) between the first and last called base."""
    core = sequence.strip("N")
    return core.count("N") / len(core) if core else 1.0


def barcode_findings(row: int, sequence: str, neighbour_lengths: list[int] | None = None) -> list[Finding]:
    """The barcode findings on one record (`sequence`: its cleaned barcode; `neighbour_lengths`: the
    lengths of its nearest references' barcodes, when known)."""
    found = []
    shift = frameshift(sequence)
    if shift:
        found.append(Finding(row, "barcode_qc", FRAMESHIFT_SCORE, None, None, None, shift))
    share = ambiguity(sequence)
    if share > MAX_AMBIGUOUS:
        low, high = AMBIGUOUS_SCORES
        score = low + (high - low) * min(1.0, (share - MAX_AMBIGUOUS) / 0.04)
        core = sequence.strip("N")
        evidence = f"ambiguous bases: {core.count('N')} of {len(core)} ({share:.1%}; BOLD's standard: under 1%)"
        found.append(Finding(row, "barcode_qc", round(score, 4), None, None, None, evidence))
    length = len(sequence.strip("N"))
    if neighbour_lengths:
        typical = float(np.median(neighbour_lengths))
        if length < SHORT_SHARE * typical:
            evidence = f"fragment: {length} bases where its nearest references have {typical:.0f} (median)"
            found.append(Finding(row, "barcode_qc", SHORT_SCORE, None, None, None, evidence))
    return found
