"""BINs against species labels: `bin_discordance` suspects and BAGS grades.

BOLD's Barcode Index Numbers cluster barcodes independently of names, so a BIN shared by several species,
or a species split across BINs, is where labels and barcodes disagree. A record whose species is not its
BIN's clear majority species is a suspect, scored by how one-sided the BIN is (`discordance_score`); a
species split across BINs each of which it holds alone is not (it may be a species complex), and shows in
its grade.

BAGS (Fontes et al. 2021, Mol Ecol Resour 21:573) grades each species label by how its records sit in
BINs: E, a BIN of the species also holds another species; otherwise C, the species is in more than one
BIN; otherwise A, more than 10 records; B, 3 to 10; D, fewer than 3. A species none of whose records has a
BIN is not graded (`-`). Counts are the records labelled with the species (with or without a BIN).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from bioscan_hf.audit.findings import Finding
from bioscan_hf.data.schema import LINEAGE_RANKS

#: Columns of the BAGS table.
BAGS_COLUMNS = ("species", "grade", "records", "bins", "bin_uris", "shares_bins_with")
GRADES = ("A", "B", "C", "D", "E", "-")
#: Species named beside a BIN's majority in the evidence.
SHOWN_SPECIES = 3


def discordance_score(majority: int, labelled: int) -> float:
    """How sure a record disagreeing with its BIN's majority species is wrong: the share of the BIN's other
    labelled records that carry the majority species, shrunk when the majority is small (`m / (m + 1)`)."""
    return majority / (labelled - 1) * majority / (majority + 1)


def bin_findings(table: pd.DataFrame, rows: Sequence[int]) -> list[Finding]:
    """`bin_discordance` findings on the records `rows` of `table` (columns dna_bin, species and the ranks
    above it)."""
    audited = set(int(r) for r in rows)
    labelled = table[table["dna_bin"].notna() & table["species"].notna()]
    findings = []
    for bin_uri, members in labelled.groupby("dna_bin", sort=False):
        counts = members["species"].value_counts()
        if len(counts) < 2 or counts.iloc[0] == counts.iloc[1]:
            continue  # one species, or no clear majority
        majority, size = str(counts.index[0]), int(counts.iloc[0])
        example = members[members["species"] == majority].iloc[0]
        shown = ", ".join(f"{n} {name}" for name, n in counts.iloc[:SHOWN_SPECIES].items())
        more = f" and {len(counts) - SHOWN_SPECIES} more species" if len(counts) > SHOWN_SPECIES else ""
        score = round(discordance_score(size, len(members)), 4)
        for row, record in members[members["species"] != majority].iterrows():
            if row not in audited:
                continue
            rank = next(r for r in LINEAGE_RANKS if record[r] != example[r] and record[r] is not None)
            evidence = f"BIN {bin_uri} holds {len(members)} labelled records: {shown}{more}"
            findings.append(Finding(int(row), "bin_discordance", score, rank, record[rank], example[rank], evidence))
    return findings


def bags_grades(table: pd.DataFrame) -> pd.DataFrame:
    """One row per species label: its BAGS grade, records, BINs (count and ids) and the other species
    sharing them."""
    labelled = table[table["species"].notna()]
    with_bin = labelled[labelled["dna_bin"].notna()]
    species_of_bin = with_bin.groupby("dna_bin")["species"].agg(lambda s: set(s))
    rows = []
    for species, records in labelled.groupby("species", sort=True):
        bins = sorted(set(records["dna_bin"].dropna()))
        sharing = sorted(set().union(*(species_of_bin[b] for b in bins)) - {species}) if bins else []
        if not bins:
            grade = "-"
        elif sharing:
            grade = "E"
        elif len(bins) > 1:
            grade = "C"
        elif len(records) > 10:
            grade = "A"
        elif len(records) >= 3:
            grade = "B"
        else:
            grade = "D"
        rows.append(
            {
                "species": species,
                "grade": grade,
                "records": len(records),
                "bins": len(bins),
                "bin_uris": ",".join(bins),
                "shares_bins_with": ",".join(sharing),
            }
        )
    return pd.DataFrame(rows, columns=list(BAGS_COLUMNS))
