"""The search's compiled alignment kernels: the pieces' bound of `bound.py` and the banded alignment of
`align.py` with its loops over a shortlist (numba, compiled once per machine into its disk cache; imported
only when a search first needs one). The seeds' kernels are in `_seed_kernels.py`."""

from __future__ import annotations

import numba
import numpy as np

from bioscan_hf.core.compiled import cache_compiled


@numba.njit(nogil=True, inline="always")
def _mark(peq, shorter, s, e, on) -> None:
    """The piece `shorter[s:e]` into `peq` (bit i of `peq[c]`: base s + i is c), or out of it again."""
    for i in range(s, e):
        peq[shorter[i]] = peq[shorter[i]] | np.uint64(1) << np.uint64(i - s) if on else np.uint64(0)


@numba.njit(nogil=True, inline="always")
def _myers(eq, vp, vn, hin_p, hin_m, last):
    """One column of Myers' bit-vector algorithm over one word of rows (Hyyrö's block form): `eq` the rows
    whose base is the column's, `vp`/`vn` the rows' vertical steps (+1, −1), `hin_p`/`hin_m` the horizontal
    step of the row above the word (a bit each: +1, −1; none for a piece, which may start anywhere in its
    window). The new vertical steps, and the horizontal step out of row `last` (a bit each)."""
    one = np.uint64(1)
    xv = eq | vn
    eq |= hin_m  # the row above fell by one: as if its base matched
    xh = (((eq & vp) + vp) ^ vp) | eq
    hp = vn | ~(xh | vp)
    hn = vp & xh
    out_p, out_m = (hp >> last) & one, (hn >> last) & one
    hp = (hp << one) | hin_p
    hn = (hn << one) | hin_m
    return hn | ~(xv | hp), hp & xv, out_p, out_m


@numba.njit(nogil=True, inline="always")
def _step(up, down) -> int:
    """A horizontal step (`_myers`' bits) as −1, 0 or 1."""
    return np.int64(up) - np.int64(down)


@numba.njit(nogil=True, inline="always")
def _piece_best(shorter, longer, s, e, lo, hi, peq) -> int:
    """The fewest edits of piece `shorter[s:e]` aligned anywhere in `longer[lo:hi]`."""
    _mark(peq, shorter, s, e, True)
    last, zero = np.uint64(e - s - 1), np.uint64(0)
    vp, vn, score = ~zero, zero, e - s
    best = score
    for j in range(lo, hi):
        vp, vn, up, down = _myers(peq[longer[j]], vp, vn, zero, zero, last)
        score += _step(up, down)
        best = min(best, score)
    _mark(peq, shorter, s, e, False)
    return best


@numba.njit(nogil=True)
def pieces_beyond(shorter, longer, edits, piece, peq, peq2) -> bool:
    """Whether `shorter`, aligned end to end inside `longer`, needs more than `edits` edits by the pieces'
    bound (`bound.py`, pieces of `piece` ≤ 64 bases); `peq` and `peq2` are zeroed scratch tables of 256
    words, left zeroed. Pieces are taken two at a time, one from each end, each window narrowed by the pairs
    done before, and the two pieces' columns run interleaved: two independent chains of dependent bit
    operations, which the processor overlaps (~1.15× faster than one piece at a time with the second
    piece's window narrowed by the first as well; the same references skipped on the real file)."""
    m, n = shorter.shape[0], longer.shape[0]
    front, back = 0, (m + piece - 1) // piece - 1
    before = after = 0  # the bounds' sums of the pieces done before the next one and after it
    while front < back:
        s, e = front * piece, front * piece + piece
        s2, e2 = back * piece, min(m, back * piece + piece)
        lo, hi = max(0, s - edits + after), min(n, e + n - m + edits - before)
        lo2, hi2 = max(0, s2 - edits + after), min(n, e2 + n - m + edits - before)
        _mark(peq, shorter, s, e, True)
        _mark(peq2, shorter, s2, e2, True)
        last, last2, zero = np.uint64(e - s - 1), np.uint64(e2 - s2 - 1), np.uint64(0)
        vp, vn, score, vp2, vn2, score2 = ~zero, zero, e - s, ~zero, zero, e2 - s2
        best, best2 = score, score2
        width, width2 = max(0, hi - lo), max(0, hi2 - lo2)
        for j in range(min(width, width2)):
            vp, vn, up, down = _myers(peq[longer[lo + j]], vp, vn, zero, zero, last)
            vp2, vn2, up2, down2 = _myers(peq2[longer[lo2 + j]], vp2, vn2, zero, zero, last2)
            score, score2 = score + _step(up, down), score2 + _step(up2, down2)
            best, best2 = min(best, score), min(best2, score2)
        for j in range(width2, width):  # the longer window's last columns
            vp, vn, up, down = _myers(peq[longer[lo + j]], vp, vn, zero, zero, last)
            score += _step(up, down)
            best = min(best, score)
        for j in range(width, width2):
            vp2, vn2, up2, down2 = _myers(peq2[longer[lo2 + j]], vp2, vn2, zero, zero, last2)
            score2 += _step(up2, down2)
            best2 = min(best2, score2)
        _mark(peq, shorter, s, e, False)
        _mark(peq2, shorter, s2, e2, False)
        front, back, before, after = front + 1, back - 1, before + best, after + best2
        if before + after > edits:
            return True
    if front == back:  # the middle piece of an odd number
        s, e = front * piece, min(m, front * piece + piece)
        lo, hi = max(0, s - edits + after), min(n, e + n - m + edits - before)
        return before + after + _piece_best(shorter, longer, s, e, lo, hi, peq) > edits
    return False


@numba.njit(nogil=True)
def beyond_batch(query, codes, starts, ends, positions, edits, piece, found) -> None:
    """`found[i]`: whether `query` and reference `positions[i]` need more than `edits[i]` edits."""
    peq, peq2 = np.zeros(256, dtype=np.uint64), np.zeros(256, dtype=np.uint64)
    for i in range(positions.shape[0]):
        if edits[i] < 0:
            found[i] = True
            continue
        reference = codes[starts[positions[i]] : ends[positions[i]]]
        if query.shape[0] <= reference.shape[0]:
            found[i] = pieces_beyond(query, reference, edits[i], piece, peq, peq2)
        else:
            found[i] = pieces_beyond(reference, query, edits[i], piece, peq, peq2)


@numba.njit(nogil=True, inline="always")
def _ones(word) -> int:
    """The set bits of a 64-bit word."""
    word = word - ((word >> np.uint64(1)) & np.uint64(0x5555555555555555))
    word = (word & np.uint64(0x3333333333333333)) + ((word >> np.uint64(2)) & np.uint64(0x3333333333333333))
    word = (word + (word >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((word * np.uint64(0x0101010101010101)) >> np.uint64(56))


@numba.njit(nogil=True, inline="always")
def _rows(masks, shorter, on) -> None:
    """`shorter`'s bases into `masks` (bit i of `masks[c]`, from the second word on: base i is c), or out again."""
    one = np.uint64(1)
    for i in range(shorter.shape[0]):
        word = (i >> 6) + 1
        masks[shorter[i], word] = masks[shorter[i], word] | (one << np.uint64(i & 63)) if on else np.uint64(0)


@numba.njit(nogil=True)
def mark_rows(shorter, masks) -> None:
    """`shorter`'s bases into a zeroed `masks` once, for `band_distance(..., marked=True)` with many others."""
    _rows(masks, shorter, True)


@numba.njit(nogil=True)
def band_distance(shorter, longer, edits, words, masks, marked) -> int:
    """The edit distance of `shorter` aligned end to end inside `longer` (edlib's HW mode) where it is at most
    `edits`, else -1 (`align.py`: the band). The rows an alignment within `edits` can reach in a column (those
    of diagonals −edits to len(longer) − len(shorter) + edits) are `words` 64-bit words of Myers' bit-vectors,
    the block algorithm with Hyyrö's carry between words; as the band moves down a row per column, the row
    leaving it and the row entering it are taken one more than their neighbour, over-estimates that keep
    every path within the band exact. `masks`: a table of 256 rows of at least len(shorter) // 64 + 2 +
    `words` words, zeroed and left zeroed, or (`marked`) holding `shorter`'s bases (`mark_rows`), as left."""
    if not marked:
        _rows(masks, shorter, True)
    if words == 1:
        best = _band_in_one_word(shorter.shape[0], longer, edits, masks)
    else:
        best = _band_in_words(shorter.shape[0], longer, edits, words, masks)
    if not marked:
        _rows(masks, shorter, False)
    return best if best <= edits else -1


@numba.njit(nogil=True, inline="always")
def _band_in_one_word(m, longer, edits, masks) -> int:
    """`_band_in_words` for a band of one word, its vectors in registers: ~1.8× faster (most of a search's
    alignments are near ones, whose band is one word)."""
    n = longer.shape[0]
    one, zero, full = np.uint64(1), np.uint64(0), ~np.uint64(0)
    vp, vn = full, zero
    best, above, top = m, 0, 1
    slide_from, score_from = min(n, n - m + edits + 1), max(1, m - edits)
    for j in range(1, n + 1):
        hin_p = zero
        if j > slide_from:  # the band moves down a row
            above += np.int64(vp & one) - np.int64(vn & one) + 1
            vp, vn = (vp >> one) | (one << np.uint64(63)), vn >> one
            top += 1
            hin_p = one
        row, at = longer[j - 1], np.uint64(top + 63)
        first, shift = at >> np.uint64(6), at & np.uint64(63)
        eq = (masks[row, first] >> shift) | ((masks[row, first + one] << one) << (np.uint64(63) - shift))
        vp, vn, _, _ = _myers(eq, vp, vn, hin_p, zero, np.uint64(63))
        last = m - top
        if j >= score_from and 0 <= last < 64:
            keep = full >> np.uint64(63 - last)
            best = min(best, above + _ones(vp & keep) - _ones(vn & keep))
    return best


@numba.njit(nogil=True, inline="always")
def _band_in_words(m, longer, edits, words, masks) -> int:
    """The fewest edits of the shorter (`m` bases, in `masks`) inside `longer`, exact where at most `edits`."""
    n = longer.shape[0]
    one, zero, full = np.uint64(1), np.uint64(0), ~np.uint64(0)
    vp, vn = np.full(words, full), np.zeros(words, dtype=np.uint64)  # column 0: row i scores i
    best, above, top = m, 0, 1  # best: every base deleted; above: the score of row top − 1, the band's first
    slide_from, score_from = min(n, n - m + edits + 1), max(1, m - edits)
    for j in range(1, n + 1):
        hin_p = hin_m = zero  # row 0 scores 0 in every column: the start is free
        if j > slide_from:  # the band moves down a row
            above += np.int64(vp[0] & one) - np.int64(vn[0] & one) + 1
            for w in range(words - 1):
                vp[w] = (vp[w] >> one) | (vp[w + 1] << np.uint64(63))
                vn[w] = (vn[w] >> one) | (vn[w + 1] << np.uint64(63))
            vp[words - 1] = (vp[words - 1] >> one) | (one << np.uint64(63))
            vn[words - 1] = vn[words - 1] >> one
            top += 1
            hin_p = one
        row = masks[longer[j - 1]]
        first, shift = (top + 63) >> 6, np.uint64((top + 63) & 63)
        for w in range(words):  # each word's last row steps into the next word's first
            eq = (row[first + w] >> shift) | ((row[first + w + 1] << one) << (np.uint64(63) - shift))
            vp[w], vn[w], hin_p, hin_m = _myers(eq, vp[w], vn[w], hin_p, hin_m, np.uint64(63))
        last = m - top  # the shorter's last row, in the band from column m − edits on
        if j >= score_from and 0 <= last < 64 * words:
            score = above
            for w in range((last >> 6) + 1):
                keep = full if w < last >> 6 else full >> np.uint64(63 - (last & 63))
                score += _ones(vp[w] & keep) - _ones(vn[w] & keep)
            best = min(best, score)
    return best


@numba.njit(nogil=True)
def band_in_full(read, codes, starts, ends, positions, start, last, most_words, masks, read_masks, out):
    """`band_distance` of `read` with each reference `positions[i]` in full, from `i = start` on, into `out[i]`:
    each in the band holding the previous one's distance (`last`; the first, with none, in one word), and
    once more in the widest (`most_words`) where the distance is beyond that band, until one whose distance
    is beyond the widest band too or whose shorter side is empty. Returns (that one's index, or
    len(positions) when all are done; `last`): the caller aligns it (edlib) and goes on from the next
    (`align.BandedAligner.in_full`). `read_masks`: `read`'s bases (`mark_rows`), for the references no shorter
    than it; `masks` zeroed, for the others."""
    for i in range(start, positions.shape[0]):
        reference = codes[starts[positions[i]] : ends[positions[i]]]
        marked = read.shape[0] <= reference.shape[0]
        shorter, longer = (read, reference) if marked else (reference, read)
        rows = read_masks if marked else masks
        m = shorter.shape[0]
        longer_by = longer.shape[0] - m
        widest = (64 * most_words - 1 - longer_by) // 2  # the most edits the widest band holds
        if m == 0 or widest < 0:
            return i, last
        words = min(most_words, (longer_by + 2 * max(last, 0) + 64) // 64)  # `align.band_words`
        distance = band_distance(shorter, longer, (64 * words - 1 - longer_by) // 2, words, rows, marked)
        if distance < 0 and words < most_words:
            distance = band_distance(shorter, longer, widest, most_words, rows, marked)
        if distance < 0:
            return i, last
        out[i] = distance
        last = distance
    return positions.shape[0], last


@numba.njit(nogil=True)
def band_within(read, codes, starts, ends, positions, near, start, best, near_best, penalty, shared, most, first,
                lost_per_edit, most_words, masks, read_masks, out):  # fmt: skip
    """The bounded alignments of `shortlist.ranked_alignments`: for each `i = near[j]`, `j` from `start` on, reference
    `positions[i]` aligned with `read` only as far as it could score `best` − `near_best` (`best` the best
    score so far, rising as hits come), `out[j]` its distance or −1 (no hit). With `shared` (the seeds the
    `first + i`-th shortlisted reference shares with the query), one holding too few to come that close is
    passed over (`seeds.SharedSeeds.may_be_within`). Returns (the index `j` of the first alignment the band
    cannot answer, its band wider than `most_words` or its shorter side empty, or len(near) when all are done;
    `best`): the caller aligns it and goes on from the next. `masks` and `read_masks` as `band_in_full`'s."""
    length = read.shape[0]
    for j in range(start, near.shape[0]):
        i = near[j]
        reference = codes[starts[positions[i]] : ends[positions[i]]]
        other = reference.shape[0]
        floor = best - near_best
        m = min(length, other)
        edits = (m - floor) // penalty
        out[j] = -1
        if shared.shape[0] and shared[first + i] < most - (lost_per_edit * edits + max(0, length - other)):
            continue
        if floor > m:
            continue
        words = (abs(length - other) + 2 * edits + 64) // 64
        if m == 0 or words > most_words:
            return j, best
        marked = length <= other
        shorter, longer = (read, reference) if marked else (reference, read)
        distance = band_distance(shorter, longer, edits, words, read_masks if marked else masks, marked)
        out[j] = distance
        if distance >= 0:
            best = max(best, m - penalty * distance)
    return near.shape[0], best


cache_compiled(pieces_beyond, beyond_batch, mark_rows, band_distance, band_in_full, band_within)
