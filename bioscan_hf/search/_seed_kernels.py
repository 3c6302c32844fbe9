"""The search's compiled seed kernels: each barcode's seeds, the inverted index's lists and a query's seed tally
of `seeds.py`, and the barcodes containing others of `contained.py` (numba, compiled once per machine into
its disk cache; imported only when a search first needs one)."""

from __future__ import annotations

import numba
import numpy as np

from bioscan_hf.core.compiled import cache_compiled


@numba.njit(nogil=True, inline="always")
def _window_seed(bases, window, positions, weights, unknown) -> int:
    """The seed of the window starting at `window`: its bases at `positions` weighted by `weights`, or -1 where
    one of them is unknown (>= `unknown`)."""
    code = 0
    for i in range(positions.shape[0]):
        base = bases[window + positions[i]]
        if base >= unknown:
            return -1
        code += base * weights[i]
    return code


@numba.njit(nogil=True, inline="always")
def _next_seed(bases, window, before, positions, weights, unknown) -> int:
    """`_window_seed` of the window at `window`, given `before`, the seed of the window three bases earlier (−1:
    none, or it had an unknown base). The pattern repeats every three bases (`seeds.SEED_PATTERN`), so this
    window's seed is that one's less its first two bases, shifted, with the two bases its last positions add:
    ~5× faster than reading all eleven where the bases are known; read whole otherwise."""
    if before >= 0:
        second_last, last = bases[window + positions[-2]], bases[window + positions[-1]]
        if second_last < unknown and last < unknown:
            return ((before & (weights[1] - 1)) << 4) + np.int64(second_last) * 4 + np.int64(last)
    return _window_seed(bases, window, positions, weights, unknown)


@numba.njit(nogil=True, inline="always")
def _barcode_seeds(bases, start, end, positions, weights, unknown, span, into) -> int:
    """The seed of each window of `span` bases in `bases[start:end]` (one barcode), −1 where a read position is
    unknown, into `into` in window order; returns how many windows. Each is rolled on from the window three
    bases earlier (`_next_seed`): the one loop every kernel below reads a barcode's seeds by."""
    back3, back2, back1 = -1, -1, -1  # the seeds of the last three windows
    for window in range(start, end - span + 1):
        code = _next_seed(bases, window, back3, positions, weights, unknown)
        back3, back2, back1 = back2, back1, code
        into[window - start] = code
    return max(0, end - span + 1 - start)


@numba.njit(nogil=True, inline="always")
def _window_scratch(lengths):
    """Room for `_barcode_seeds`' windows of the longest of barcodes of `lengths`."""
    return np.empty(max(1, lengths.max()) if lengths.shape[0] else 1, dtype=np.int64)


@numba.njit(nogil=True)
def seed_keys(bases, lengths, positions, weights, unknown, span, n_seeds, out) -> int:
    """`row * n_seeds + seed` of each window of `span` bases within one barcode (`bases`: the barcodes joined,
    `lengths` theirs) that has a seed (`_window_seed`), into `out` in barcode then window order; returns how
    many (`seeds._batch_seeds`: one pass, where NumPy passed over every window once per position)."""
    found, start = 0, 0
    into = _window_scratch(lengths)
    for row in range(lengths.shape[0]):
        end = start + lengths[row]
        for i in range(_barcode_seeds(bases, start, end, positions, weights, unknown, span, into)):
            if into[i] >= 0:
                out[found] = row * n_seeds + into[i]
                found += 1
        start = end
    return found


@numba.njit(nogil=True)
def distinct_seeds(bases, lengths, positions, weights, unknown, span, stamp, rows, codes) -> int:
    """Each barcode's distinct seeds as `seed_keys` finds them, (row, seed) into `rows` and `codes`, barcode by
    barcode, a barcode's in the order of its windows; returns how many. A repeat within a barcode is told by
    `stamp` (zeroed, one per possible seed; left zeroed): what an index is built from (`seeds._index_seeds`),
    in half the time of sorting every key of 20,000 barcodes to drop the repeats."""
    found, start = 0, 0
    into = _window_scratch(lengths)
    for row in range(lengths.shape[0]):
        end = start + lengths[row]
        for i in range(_barcode_seeds(bases, start, end, positions, weights, unknown, span, into)):
            code = into[i]
            if code >= 0 and stamp[code] != row + 1:
                stamp[code] = row + 1
                rows[found] = row
                codes[found] = code
                found += 1
        start = end
    for i in range(found):
        stamp[codes[i]] = 0
    return found


@numba.njit(nogil=True)
def min_hashes(bases, lengths, positions, weights, unknown, span, out) -> None:
    """Each barcode's least hash of its seeds (a min-hash: two barcodes share it as often as they share their seeds,
    Jaccard), into `out`; the largest value where a barcode has no seed. What the index orders its slots by."""
    start = 0
    into = _window_scratch(lengths)
    for row in range(lengths.shape[0]):
        end = start + lengths[row]
        least = np.uint64(0xFFFFFFFFFFFFFFFF)
        for i in range(_barcode_seeds(bases, start, end, positions, weights, unknown, span, into)):
            if into[i] >= 0:
                hashed = np.uint64(into[i]) * np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing
                if hashed < least:
                    least = hashed
        out[row] = least
        start = end


@numba.njit(nogil=True)
def place(rows, codes, cursor, postings) -> None:
    """`postings[cursor[c]] = row`, then one more in `cursor[c]`, for each (row, seed c) in order: an inverted
    index's lists filled by counting, each list in the order its entries come (an argsort by seed took ~1 s
    of a 21,708-barcode index's 4 s)."""
    for i in range(rows.shape[0]):
        code = codes[i]
        postings[cursor[code]] = rows[i]
        cursor[code] += 1


@numba.njit(nogil=True, inline="always")
def _add(postings, starts, ends, counts, step) -> None:
    """`step` added to `counts[p]` for each entry p of the lists `postings[starts[i]:ends[i]]` (inlined into
    `tally_seeds`, where `step` is a constant; unsigned counts wrap below 0). Eight entries are loaded before any
    count is stored: the compiler cannot tell that a store to `counts` leaves `postings` alone, so a plain loop
    waits on each store before its next load (~3 ns an entry; this form ~0.8 ns, near the ~0.7 ns of only reading the
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
def histogram(counts, into) -> None:
    """How many references have each count added into `into` (`into[0]` left as it was: references with count 0
    are most and never needed). Four histograms are counted in turn and summed: one alone waits on its last
    store whenever two references in a row have the same count (over ~2M counts like BIOSCAN-5M's, 4.4 ms that
    way against 0.7 ms; np.bincount over them, made 64-bit first, took ~2 ms more than the first)."""
    parts = np.zeros((4, into.shape[0]), dtype=np.int64)
    n, i = counts.shape[0], 0
    while i + 4 <= n:
        parts[0, counts[i]] += 1
        parts[1, counts[i + 1]] += 1
        parts[2, counts[i + 2]] += 1
        parts[3, counts[i + 3]] += 1
        i += 4
    for j in range(i, n):
        parts[0, counts[j]] += 1
    for count in range(1, into.shape[0]):
        into[count] += parts[0, count] + parts[1, count] + parts[2, count] + parts[3, count]


@numba.njit(nogil=True)
def rarest_first(indptr, codes, budget):
    """Of a query's seeds `codes`, those an index of lists `indptr` holds, rarest first (equals in order), as many
    as `budget` posting entries hold (the rarest at least): their indices into `codes`, and their entries."""
    lengths = np.empty(codes.shape[0], dtype=np.int64)
    for i in range(codes.shape[0]):
        lengths[i] = indptr[codes[i] + 1] - indptr[codes[i]]
    kept, count, entries = np.empty(codes.shape[0], dtype=np.int64), 0, 0
    for i in np.argsort(lengths, kind="mergesort"):  # stable
        if lengths[i] == 0:
            continue
        if count and entries + lengths[i] > budget:
            break
        kept[count] = i
        count += 1
        entries += lengths[i]
    return kept[:count], entries


@numba.njit(nogil=True)
def tally_seeds(postings, indptr, seeds, common, common_starts, common_ends, lacking, counts) -> int:
    """One more in `counts[p]` for each barcode p holding each of `seeds` (its list in `postings`), and for those
    of `common` (ascending: seeds most barcodes hold) one less for each barcode lacking it instead
    (`lacking[common_starts[j]:common_ends[j]]`: a shorter list). Returns how many seeds were counted so: the
    caller adds that to every count (unsigned: exact, modulo). At BIOSCAN-5M's size a query reads 20M entries:
    np.bincount over them joined took ~75 ms (and the join a copy of 80 MB)."""
    starts, ends = np.empty(seeds.shape[0], dtype=np.int64), np.empty(seeds.shape[0], dtype=np.int64)
    flipped_starts, flipped_ends = np.empty(seeds.shape[0], dtype=np.int64), np.empty(seeds.shape[0], dtype=np.int64)
    held = flipped = 0
    for seed in seeds:
        j = np.searchsorted(common, seed)
        if j < common.shape[0] and common[j] == seed:
            flipped_starts[flipped], flipped_ends[flipped] = common_starts[j], common_ends[j]
            flipped += 1
        else:
            starts[held], ends[held] = indptr[seed], indptr[seed + 1]
            held += 1
    _add(postings, starts[:held], ends[:held], counts, 1)
    _add(lacking, flipped_starts[:flipped], flipped_ends[:flipped], counts, -1)
    return flipped


@numba.njit(nogil=True)
def above_cut(counts, most, candidates):
    """The references (ascending) whose count reaches the highest count `candidates` of them reach (1 at least),
    and their counts: every reference the top `candidates` can hold (counts of at most `most`). Collected in one
    pass into arrays of the size the histogram gives (a mask of every reference, then its positions: two)."""
    into = np.zeros(most + 1, dtype=np.int64)
    histogram(counts, into)
    cut, at_least = 1, 0
    for count in range(most, 0, -1):
        at_least += into[count]
        if at_least >= candidates:
            cut = count
            break
    listed = 0
    for count in range(cut, most + 1):
        listed += into[count]
    positions, found = np.empty(listed, dtype=np.int64), np.empty(listed, dtype=np.int64)
    n = 0
    for i in range(counts.shape[0]):
        if counts[i] >= cut:
            positions[n], found[n] = i, counts[i]
            n += 1
            if n == listed:  # all of them (and never a write past the arrays)
                break
    return positions, found


@numba.njit(nogil=True, inline="always")
def _occurs(text, inner, m, outer, n) -> bool:
    """Whether the `m` bytes of `text` at `inner` occur in the `n` at `outer` (naive: a mismatch ends most
    offsets at their first bytes)."""
    for offset in range(n - m + 1):
        at = outer + offset
        j = 0
        while j < m and text[at + j] == text[inner + j]:
            j += 1
        if j == m:
            return True
    return False


@numba.njit(nogil=True)
def containers(
    bases, lengths, positions, weights, unknown, span, indptr, postings, order, text, starts, ends, first, out
):
    """For each barcode of a batch (`bases`, `lengths` as `seed_keys` reads them; keys from `first`), the
    lowest key of a barcode that contains it exactly, −1 where none does, into `out`: a container holds
    every seed, so it is among the barcodes holding both of the barcode's two rarest seeds (their lists of
    slots, merged; `order[slot]` a slot's key), and is checked on the N-stripped bytes `text[starts[k]:ends[k]]`
    (only where its key is below the lowest found). A container is longer, or as long (the same bases, other `N`
    padding) with a lower key: no barcode contains itself, and no two each other."""
    start = 0
    into = _window_scratch(lengths)
    for row in range(lengths.shape[0]):
        end, key = start + lengths[row], first + row
        out[row] = -1
        rarest, second, fewest, fewer = -1, -1, 1 << 62, 1 << 62
        for i in range(_barcode_seeds(bases, start, end, positions, weights, unknown, span, into)):
            code = into[i]
            if code < 0 or code == rarest or code == second:
                continue
            held = indptr[code + 1] - indptr[code]
            if held < fewest:
                rarest, second, fewest, fewer = code, rarest, held, fewest
            elif held < fewer:
                second, fewer = code, held
        start = end
        if rarest < 0:
            continue
        if second < 0:
            second = rarest
        a, a_end, b, b_end = indptr[rarest], indptr[rarest + 1], indptr[second], indptr[second + 1]
        m = ends[key] - starts[key]
        while a < a_end and b < b_end:
            x, y = postings[a], postings[b]
            if x < y:
                a += 1
            elif y < x:
                b += 1
            else:
                a += 1
                b += 1
                other = order[x]
                if out[row] >= 0 and other > out[row]:
                    continue
                n = ends[other] - starts[other]
                if (n > m or (n == m and other < key)) and _occurs(text, starts[key], m, starts[other], n):
                    out[row] = other


cache_compiled(
    seed_keys, distinct_seeds, min_hashes, place, histogram, rarest_first, tally_seeds, above_cut, containers
)
