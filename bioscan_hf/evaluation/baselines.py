"""Model-free reference for the DNA protocols: alignment 1-NN (the stand-in for BLAST).

Each query's nearest key is the one with the best alignment score among the keys its spaced seeds
shortlist: the engine of `bioscan-hf identify` (`bioscan_hf.search`), over distinct key barcodes.
k-mer profiles (the other model-free baseline) are an encoder: `bioscan_hf.embedding.kmer`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bioscan_hf.core.barcodes import barcode_key
from bioscan_hf.core.console import progress_bar
from bioscan_hf.evaluation.nearest import first_of_each
from bioscan_hf.search.seeds import SeedIndex
from bioscan_hf.search.settings import DEFAULT_CANDIDATES
from bioscan_hf.search.shortlist import ranked_alignments


def alignment_nearest(
    keys: Sequence[str],
    queries: Sequence[str],
    candidates: int = DEFAULT_CANDIDATES,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the key with the best alignment score among its shortlisted candidates.

    Returns (key index [Q], identity [Q]); a query sharing no seed with any key gets key 0, identity 0.
    """
    key_barcodes = [barcode_key(k) for k in keys]
    first_record, _ = first_of_each(key_barcodes)  # lowest record index of each distinct key
    distinct_keys = [key_barcodes[r] for r in first_record]
    query_barcodes = [barcode_key(q) for q in queries]
    first_query, query_codes = first_of_each(query_barcodes)
    distinct_queries = [query_barcodes[r] for r in first_query]
    shortlists = SeedIndex.build(distinct_keys).shortlist(distinct_queries, candidates)
    best = np.zeros(len(distinct_queries), dtype=np.int64)
    identity = np.zeros(len(distinct_queries), dtype=np.float64)
    for q in progress_bar(range(len(distinct_queries)), desc="aligning queries", disable=not progress):
        hits = ranked_alignments(distinct_queries[q], distinct_keys, shortlists[q]).hits()
        if hits:
            best[q], identity[q] = first_record[hits[0][0]], hits[0][1].identity
    return best[query_codes], identity[query_codes]
