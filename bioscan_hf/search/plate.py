"""A plate's calls made again at confidences adapted to the plate's own mix of known and unknown labels.

Each rank's calibrated confidence assumes the mix of its calibration's held-out queries; at the ranks where
a candidate is right exactly when the query's label is in the reference (`calibration.ADAPTED_RANKS`), the
plate's own share is estimated from its confidences (`calibration.plate_share`) and every confidence moved
to it (`calibration.adapted`); `identify` then makes each query's calls again (`calls.decided`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bioscan_hf.data.schema import CALL_RANKS
from bioscan_hf.search.calibration import ADAPTED_RANKS, adapted, plate_share
from bioscan_hf.search.calls import decided


def adapt_to_plate(computed: pd.DataFrame, min_confidence: float) -> tuple[pd.DataFrame, dict[str, dict]]:
    """The rows with the confidences of `ADAPTED_RANKS` adapted to the plate's share of queries whose label at
    that rank the reference holds, estimated from the plate (`calibration.plate_share`), and every call made
    again at them (`calls.decided`: a rank called now may open the ranks below): an all-unknown plate gets no
    species call, an all-known one is called as often as the evidence allows. Per rank adapted, the estimate
    with the calibration's share."""
    confidence = {rank: computed[f"{rank}_confidence"].to_numpy(dtype=float, copy=True) for rank in CALL_RANKS}
    known: dict[str, dict] = {}
    for rank in ADAPTED_RANKS:
        if f"_{rank}_trained" not in computed:
            continue
        rows = computed[f"_{rank}_trained"].notna().to_numpy() & computed[f"_candidate_{rank}"].notna().to_numpy()
        rows &= ~np.isnan(confidence[rank])
        if not rows.any():
            continue
        trained = computed.loc[rows, f"_{rank}_trained"].to_numpy(dtype=float)
        share = plate_share(confidence[rank][rows], trained)
        confidence[rank][rows] = adapted(confidence[rank][rows], trained, share)
        calibration = round(float(trained.mean()), 4)
        known[rank] = {"queries": int(rows.sum()), "plate": round(share, 4), "calibration": calibration}
    if not known:
        return computed, known
    rows = computed.index[computed["_by_confidence"].eq(True)]  # DNA queries (photos' calls have no chain)
    columns = ["_by_confidence", *(f"{kind}{r}" for r in CALL_RANKS for kind in ("_candidate_", "_why_"))]
    facts = computed.loc[rows, columns + [f"{r}_support" for r in CALL_RANKS]]
    facts = facts.astype(object).where(facts.notna(), None).to_dict("records")
    positions = computed.index.get_indexer(rows)
    made = pd.DataFrame(
        [decided(f, {r: confidence[r][n] for r in CALL_RANKS}, min_confidence) for f, n in zip(facts, positions)],
        index=rows,
    )
    computed = computed.astype({c: object for c in made.columns if made[c].dtype == object})
    computed.loc[rows, made.columns] = made
    return computed, known
