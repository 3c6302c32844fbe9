"""The clustering's compiled loop (numba, compiled once per machine into its disk cache; imported only when
a clustering first links its pairs)."""

from __future__ import annotations

import numba

from bioscan_hf.core.compiled import cache_compiled


@numba.njit(nogil=True)
def fill_symmetric(low, high, values, next_free, indices, data) -> None:
    """Each pair (low < high, sorted) entered both ways round into a CSR matrix's rows at `next_free` (each
    row's first slot, advanced as it fills): in sorted order every row comes out with its columns ascending
    (`linkage.linked`; scipy's COO conversion held the pairs twice more, ~5 GB at BIOSCAN-5M's size, the
    clustering's peak). Cached: compiled at each run, it took ~0.6 s of the real file's clustering."""
    for i in range(len(low)):
        a, b = low[i], high[i]
        indices[next_free[a]], data[next_free[a]] = b, values[i]
        next_free[a] += 1
        indices[next_free[b]], data[next_free[b]] = a, values[i]
        next_free[b] += 1


cache_compiled(fill_symmetric)
