"""The seeds most of an index's barcodes hold, each counted from the barcodes lacking it (`seeds.SeedIndex`
in memory): every barcode is given one, and those lacking it one less. A query's commonest seeds are held
by most of a library, and their lists were most of the entries it read."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Seeds held by more than this share of an index's barcodes are counted from the barcodes lacking them.
COMPLEMENT_ABOVE = 0.5


class Complements(NamedTuple):
    """Seeds held by most of an index's barcodes (`codes`, ascending), and for each the barcodes lacking
    it: `lacking[starts[i]:ends[i]]`."""

    codes: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    lacking: np.ndarray


NO_COMPLEMENTS = Complements(*(np.zeros(0, dtype=np.int64) for _ in range(3)), np.zeros(0, dtype=np.int32))


def complements(indptr: np.ndarray, postings: np.ndarray, size: int) -> Complements:
    """The seeds of an index held by more than `COMPLEMENT_ABOVE` of its `size` barcodes, each with the
    slots of the barcodes lacking it (fewer entries than its own list)."""
    common = np.flatnonzero(np.diff(indptr) > size * COMPLEMENT_ABOVE)
    lacking, mark = [], np.empty(size, dtype=bool)
    for code in common:
        mark[:] = True
        mark[postings[indptr[code] : indptr[code + 1]]] = False
        lacking.append(np.flatnonzero(mark).astype(np.int32))
    if not lacking:
        return NO_COMPLEMENTS
    ends = np.cumsum([len(a) for a in lacking], dtype=np.int64)
    return Complements(common.astype(np.int64), ends - np.diff(ends, prepend=0), ends, np.concatenate(lacking))
