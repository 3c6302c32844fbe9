"""A reference grouped by distinct barcode (`search.references.Reference`): records, lineages and votes read
at once give what reading them barcode by barcode gives."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bioscan_hf.search.references import REFERENCE_COLUMNS, Reference


def _reference() -> Reference:
    table = pd.DataFrame(
        {
            "processid": [f"P{i}" for i in range(9)],
            "dna_barcode": list("ACAGCAATG"),
            "genus": ["Ga", "Gb", "Ga", None, "Gb", "Gb", "Ga", "Gc", "Gc"],
        }
    )
    return Reference(table.reindex(columns=list(REFERENCE_COLUMNS)))


def test_records_of_many_barcodes_are_each_ones_records_in_turn() -> None:
    reference = _reference()
    for keys in ([0], [1, 0], [2, 1, 0, 3], []):
        expected = [row for key in keys for row in reference.records(key).tolist()]
        assert reference.records_of(np.array(keys, dtype=np.int64)).tolist() == expected


def test_a_barcodes_lineage_is_its_representative_records() -> None:
    reference = _reference()
    for key in range(len(reference.barcodes)):
        row = reference.table.iloc[reference.representative(key)]
        lineage = reference.lineage(key)
        assert lineage["processid"] == row["processid"]
        assert lineage["genus"] == row["genus"] or (pd.isna(lineage["genus"]) and pd.isna(row["genus"]))
    assert reference.vote([0, 1], "genus") == ("Ga", 3, 6)  # A: Ga Ga Gb Ga; C: Gb Gb (a tie: the first met)
