"""A reference grouped by distinct barcode (`search.references.Reference`): records, lineages and votes read
at once give what reading them barcode by barcode gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
from helpers import library, mutate

from bioscan_hf.data.sources import Query
from bioscan_hf.search.calls import rank_evidence
from bioscan_hf.search.engine import Identifier
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


def test_a_subset_searches_the_librarys_index_and_finds_what_its_own_reference_finds() -> None:
    """`Reference.subset` (a calibration fold): the library's keys and seed index, with the barcodes of the
    records left out never hit; its hits and evidence are those of a reference built from the same records."""
    rng = np.random.default_rng(3)
    table = library(rng).reindex(columns=list(REFERENCE_COLUMNS))
    whole = Reference(table)
    left_out = table["species"].eq("Gen00 sp1") | table["processid"].eq("P0100")  # a species and one record
    kept = np.flatnonzero(~left_out.to_numpy())
    subset, own = whole.subset(kept), Reference(table.iloc[kept].reset_index(drop=True))
    assert subset.barcodes == whole.barcodes and subset.seeds.postings is whole.seeds.postings
    assert subset.bases == own.bases < whole.bases
    queries = [Query(f"q{n}", sequence=b) for n, b in enumerate(table.loc[left_out, "dna_barcode"])]
    queries.append(Query("near", sequence=mutate(table["dna_barcode"].iat[0], 0.03, rng)))
    found = {}
    for name, reference in (("subset", subset), ("own", own)):
        engine = Identifier(reference, strand="plus")
        try:
            hits = engine.hits(queries)
        finally:
            engine.close()
        found[name] = [
            ([(reference.barcodes[h.key], round(h.identity, 6)) for h in hits[q.sequence]],
             {rank: e and np.nan_to_num(e.features(), nan=-1).tolist()
              for rank, e in rank_evidence(reference, hits[q.sequence]).items()})
            for q in queries
        ]  # fmt: skip
        held = {reference.barcodes[h.key] for q in queries for h in hits[q.sequence]}
        assert held <= set(table["dna_barcode"].iloc[kept])  # no barcode of the records left out alone
    assert found["subset"] == found["own"]
