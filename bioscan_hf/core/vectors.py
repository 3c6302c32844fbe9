"""Vector search with FAISS, one set of functions for every nearest-neighbour search in the package: the
1-NN probe, the reference index (exact or inverted-file) and the identify shortlist. Vectors are
L2-normalised, so inner product is cosine similarity."""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np

from bioscan_hf.core.errors import EvaluationError

#: Inverted lists an approximate index searches per query: at 1M keys on 2 cores, p95 under 50 ms with
#: recall@10 0.97 (BENCHMARKS.md); more lists raise recall and latency (`bioscan-hf index --nprobe`).
DEFAULT_NPROBE = 192
#: Bytes of vectors an approximate index keeps as float32 (1.3M keys of 768 dimensions; 1M measured in
#: BENCHMARKS.md). Above it they are stored as 16-bit floats where those fit in it (similarities within
#: ~1e-4, so near-identical barcodes keep their order: 5.15M kmer4 keys in 2.6 GB), else as 8-bit codes
#: (4× less than float32: 5.15M × 768 in 3.9 GB instead of 15.8 GB, at a recall cost in BENCHMARKS.md).
FLOAT_BYTES = 4_000_000_000


def normalize(vectors: np.ndarray, copy: bool = True) -> np.ndarray:
    """L2-normalised float32 copy (rows of zeros stay zero); `copy=False` normalises a float32 C-contiguous
    matrix in place (a 5.15M-key matrix is not held twice)."""
    vectors = np.array(vectors, dtype=np.float32, copy=True) if copy else np.ascontiguousarray(vectors, np.float32)
    faiss.normalize_L2(vectors)
    return vectors


def check_embeddings(
    name: str, vectors: np.ndarray, labels: Sequence | None = None, what: str = "labels"
) -> np.ndarray:
    """Validate an embedding matrix (2-D, finite, non-empty, one label or id per row) and return it as
    float32; `what` names the per-row values in the error."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise EvaluationError(f"{name}: expected a non-empty [N, D] matrix, got shape {vectors.shape}")
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        raise EvaluationError(f"{name}: {bad.sum()} row(s) contain NaN or inf, first at row {np.flatnonzero(bad)[0]}")
    if labels is not None:
        check_rows(name, len(vectors), labels, what)
    return vectors


def check_rows(name: str, n_rows: int, values: Sequence, what: str = "labels") -> None:
    """One label or id per embedding row."""
    if len(values) != n_rows:
        raise EvaluationError(f"{name}: {n_rows} embeddings but {len(values)} {what}")


def exact_index(vectors: np.ndarray) -> faiss.IndexFlatIP:
    """An exact inner-product index holding the L2-normalised `vectors` (row i has id i)."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def nearest_keys(keys: np.ndarray, queries: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities [Q, k] of each query's k nearest keys (exact FAISS search)."""
    keys = normalize(check_embeddings("keys", keys))
    queries = normalize(check_embeddings("queries", queries))
    if keys.shape[1] != queries.shape[1]:
        raise EvaluationError(f"keys have {keys.shape[1]} dimensions, queries {queries.shape[1]}")
    similarities, indices = exact_index(keys).search(queries, k)
    return indices, similarities


def ivf_list_count(n_total: int) -> int:
    """Coarse lists for an inverted-file index over `n_total` keys: 4·√n (FAISS's guideline range)."""
    return max(1, int(4 * np.sqrt(n_total)))


def code_bits(n_total: int, dim: int) -> int:
    """Bits per component an approximate index stores for `n_total` keys of `dim`: 32 while the float32
    vectors fit in `FLOAT_BYTES`, else 16 where those fit, else 8."""
    return next((bits for bits in (32, 16) if n_total * dim * bits // 8 <= FLOAT_BYTES), 8)


def trained_ivf(
    sample: np.ndarray, n_total: int, nprobe: int = DEFAULT_NPROBE, compress: bool | None = None
) -> faiss.Index:
    """An empty inverted-file index (inner product) for `n_total` L2-normalised vectors, its coarse
    centroids (4·√n lists) trained on `sample`. Codes: `code_bits` by default; `compress=True` 8-bit,
    `False` float32."""
    dim = sample.shape[1]
    n_lists = max(1, min(ivf_list_count(n_total), len(sample) // 39))  # k-means wants ≥ 39 points a list
    quantizer = faiss.IndexFlatIP(dim)
    bits = code_bits(n_total, dim) if compress is None else 8 if compress else 32
    if bits == 32:
        index = faiss.IndexIVFFlat(quantizer, dim, n_lists, faiss.METRIC_INNER_PRODUCT)
    else:
        kind = faiss.ScalarQuantizer.QT_fp16 if bits == 16 else faiss.ScalarQuantizer.QT_8bit
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, n_lists, kind, faiss.METRIC_INNER_PRODUCT)
    index.train(sample)
    index.nprobe = min(nprobe, n_lists)
    return index


def ivf_index(vectors: np.ndarray, nprobe: int = DEFAULT_NPROBE, compress: bool | None = None) -> faiss.Index:
    """A trained inverted-file index for L2-normalised `vectors` (trained on a sample), not yet filled."""
    sample_size = min(len(vectors), 40 * ivf_list_count(len(vectors)))
    sample = np.random.default_rng(0).choice(len(vectors), sample_size, replace=False)
    return trained_ivf(vectors[np.sort(sample)], len(vectors), nprobe, compress)


def id_index(vectors: np.ndarray, approximate: bool = False, nprobe: int = DEFAULT_NPROBE) -> faiss.Index:
    """An empty index taking ids (`add_with_ids`) for L2-normalised `vectors`: exact, or inverted-file."""
    return ivf_index(vectors, nprobe) if approximate else faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))


def set_nprobe(index: faiss.Index, nprobe: int) -> None:
    """Lists an inverted-file index searches per query (no effect on an exact index)."""
    try:
        faiss.extract_index_ivf(index).nprobe = nprobe
    except RuntimeError:  # not an inverted-file index
        pass
