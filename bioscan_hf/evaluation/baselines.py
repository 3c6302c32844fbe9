"""Model-free references: k-mer profiles (cosine 1-NN) and alignment identity (the stand-in for BLAST).

k-mer profile: counts of all overlapping k-mers over ACGT (a k-mer with any other letter is skipped),
L2-normalised. Alignment: each query's candidates are its top keys by k-mer profile; the candidate with
the highest alignment identity wins. Identity comes from edlib (Myers' bit-vector edit distance, exact
and far faster than a Python dynamic programme), aligning the shorter sequence end to end inside the
longer one (edlib's HW mode), so partial reads are not penalised for bases they lack:
identity = 1 − edit distance / length of the shorter sequence.
"""

from __future__ import annotations

from collections.abc import Sequence

import edlib
import numpy as np
from tqdm.auto import tqdm

from bioscan_hf.evaluation.knn import nearest_keys

_CODE = np.full(256, 4, dtype=np.int64)
for _i, _base in enumerate(b"ACGT"):
    _CODE[_base] = _i
    _CODE[_base + 32] = _i  # lower case


def kmer_profiles(sequences: Sequence[str], k: int = 6, batch_size: int = 2048) -> np.ndarray:
    """L2-normalised overlapping k-mer counts [N, 4**k] (float32)."""
    out = np.zeros((len(sequences), 4**k), dtype=np.float32)
    for start in range(0, len(sequences), batch_size):
        for row, text in enumerate(sequences[start : start + batch_size], start=start):
            codes = _CODE[np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)]
            if len(codes) < k:
                continue
            windows = np.lib.stride_tricks.sliding_window_view(codes, k)
            valid = (windows < 4).all(axis=1)
            values = windows[valid] @ (4 ** np.arange(k - 1, -1, -1))
            out[row] = np.bincount(values, minlength=4**k)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def alignment_identity(a: str, b: str) -> float:
    """Identity of the shorter sequence aligned end to end inside the longer one (edlib, HW mode)."""
    a, b = a.strip("N"), b.strip("N")
    query, target = (a, b) if len(a) <= len(b) else (b, a)
    if not query:
        return 0.0
    distance = edlib.align(query, target, mode="HW", task="distance")["editDistance"]
    return 1.0 - distance / len(query)


def alignment_nearest(
    keys: Sequence[str],
    queries: Sequence[str],
    candidates: int = 100,
    k: int = 6,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the key with the highest alignment identity among its top k-mer candidates.

    Returns (key index [Q], identity [Q]).
    """
    key_profiles, query_profiles = kmer_profiles(keys, k), kmer_profiles(queries, k)
    shortlist, _ = nearest_keys(key_profiles, query_profiles, min(candidates, len(keys)))
    best = np.zeros(len(queries), dtype=np.int64)
    identity = np.zeros(len(queries), dtype=np.float64)
    for q in tqdm(range(len(queries)), desc="aligning queries", disable=not progress):
        scores = [alignment_identity(queries[q], keys[c]) for c in shortlist[q]]
        pick = int(np.argmax(scores))
        best[q], identity[q] = shortlist[q][pick], scores[pick]
    return best, identity
