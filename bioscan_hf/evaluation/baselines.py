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

from bioscan_hf.embedding.kmer import kmer_profiles
from bioscan_hf.evaluation.knn import nearest_keys


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
