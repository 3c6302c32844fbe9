"""The search's compiled kernels: the pieces' bound of `bound.py` and the seed tally of `seeds.py` (numba,
compiled once per machine into its disk cache; imported only when a search first needs one)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True)
def pieces_beyond(shorter, longer, edits, piece, peq) -> bool:
    """Whether `shorter`, aligned end to end inside `longer`, needs more than `edits` edits by the pieces'
    bound (`bound.py`, pieces of `piece` ≤ 64 bases); `peq` is a zeroed scratch table of 256 words, left zeroed."""
    m, n = shorter.shape[0], longer.shape[0]
    one = np.uint64(1)
    pieces = (m + piece - 1) // piece
    front, back = 0, pieces - 1
    before = after = 0  # the bounds' sums of the pieces done before the next one and after it
    for done in range(pieces):
        at = front if done % 2 == 0 else back  # from both ends: both sides of the window narrow
        s, e = at * piece, min(m, at * piece + piece)
        for i in range(s, e):
            peq[shorter[i]] |= one << np.uint64(i - s)
        last = one << np.uint64(e - s - 1)
        vp, vn = ~np.uint64(0), np.uint64(0)
        score = best = e - s
        for j in range(max(0, s - edits + after), min(n, e + n - m + edits - before)):
            eq = peq[longer[j]]
            xv = eq | vn
            xh = (((eq & vp) + vp) ^ vp) | eq
            hp = vn | ~(xh | vp)
            hn = vp & xh
            if hp & last:
                score += 1
            elif hn & last:
                score -= 1
            best = min(best, score)
            hp <<= one  # no carry into the first row: the piece may start anywhere in its window
            hn <<= one
            vp = hn | ~(xv | hp)
            vn = hp & xv
        for i in range(s, e):
            peq[shorter[i]] = np.uint64(0)
        if done % 2 == 0:
            front, before = front + 1, before + best
        else:
            back, after = back - 1, after + best
        if before + after > edits:
            return True
    return False


@numba.njit(nogil=True)
def beyond_batch(query, codes, starts, ends, positions, edits, piece, found) -> None:
    """`found[i]`: whether `query` and reference `positions[i]` need more than `edits[i]` edits."""
    peq = np.zeros(256, dtype=np.uint64)
    for i in range(positions.shape[0]):
        if edits[i] < 0:
            found[i] = True
            continue
        reference = codes[starts[positions[i]] : ends[positions[i]]]
        if query.shape[0] <= reference.shape[0]:
            found[i] = pieces_beyond(query, reference, edits[i], piece, peq)
        else:
            found[i] = pieces_beyond(reference, query, edits[i], piece, peq)


@numba.njit(nogil=True, inline="always")
def _add(postings, starts, ends, counts, step) -> None:
    """`step` added to `counts[p]` for each entry p of the lists `postings[starts[i]:ends[i]]` (inlined into
    `tally` and `untally`, where `step` is a constant). Eight entries are loaded before any count is stored:
    the compiler cannot tell that a store to `counts` leaves `postings` alone, so a plain loop waits on each
    store before its next load (~3 ns an entry; this form ~0.8 ns, near the ~0.7 ns of only reading the
    entries). A list never holds a position twice, so the eight stores are to distinct counts."""
    for i in range(len(starts)):
        j, end = starts[i], ends[i]
        while j + 8 <= end:
            p0, p1, p2, p3 = postings[j], postings[j + 1], postings[j + 2], postings[j + 3]
            p4, p5, p6, p7 = postings[j + 4], postings[j + 5], postings[j + 6], postings[j + 7]
            counts[np.uint32(p0)] += step  # unsigned: no test for an index from the end (~1.4× faster)
            counts[np.uint32(p1)] += step
            counts[np.uint32(p2)] += step
            counts[np.uint32(p3)] += step
            counts[np.uint32(p4)] += step
            counts[np.uint32(p5)] += step
            counts[np.uint32(p6)] += step
            counts[np.uint32(p7)] += step
            j += 8
        for k in range(j, end):
            counts[np.uint32(postings[k])] += step


@numba.njit(nogil=True)
def tally(postings, starts, ends, counts) -> None:
    """One more in `counts[p]` for each entry p of the lists `postings[starts[i]:ends[i]]`. At BIOSCAN-5M's size
    a query reads 20M entries: np.bincount over them joined took ~75 ms (and the join a copy of 80 MB)."""
    _add(postings, starts, ends, counts, 1)


@numba.njit(nogil=True)
def untally(postings, starts, ends, counts) -> None:
    """One less in `counts[p]` for each entry p of the lists (unsigned counts wrap below 0: the caller adds
    back what it gave every reference)."""
    _add(postings, starts, ends, counts, -1)


@numba.njit(nogil=True)
def histogram(counts, into) -> None:
    """How many references have each count, 1 or more, added into `into`. At BIOSCAN-5M's size np.bincount
    over the ~2M counts, first made 64-bit, took ~2 ms a query more; references with count 0 are most and
    never needed."""
    for count in counts:
        if count:
            into[count] += 1


for _kernel in (pieces_beyond, beyond_batch, tally, untally, histogram):
    try:  # compiled once per machine into numba's cache (beside this file, or the user's cache folder) ...
        _kernel.enable_caching()
    except RuntimeError:  # ... where neither can be written: compiled at every run instead (~3 s)
        pass
