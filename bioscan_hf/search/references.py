"""Reference libraries for identification: a prepared dataset (chosen splits), an index folder of
`bioscan-hf index`, a BOLD combined TSV export, or a FASTA whose headers carry taxonomy (SINTAX or BOLD
form), read into one table with `REFERENCE_COLUMNS` (the record readers are the data layer's)."""

from __future__ import annotations

import os

import pandas as pd

from bioscan_hf.core.barcodes import barcode_key
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.paths import user_path
from bioscan_hf.data.sources import (
    CALL_RANKS,
    Problems,
    bold_records,
    dataset_table,
    is_bold_tsv,
    is_fasta,
    is_prepared_dataset,
    iter_fasta,
    taxonomy_from_header,
)

#: Columns of a reference table (one row per reference record).
REFERENCE_COLUMNS: tuple[str, ...] = ("processid", "dna_barcode", *CALL_RANKS, "country")
#: Reference splits of a prepared dataset by default: BIOSCAN-5M's keys.
DEFAULT_REFERENCE_SPLITS: tuple[str, ...] = ("train", "key_unseen")


def read_references(
    source: str | os.PathLike,
    splits: tuple[str, ...] = DEFAULT_REFERENCE_SPLITS,
    problems: Problems | None = None,
) -> pd.DataFrame:
    """A reference library as a table with `REFERENCE_COLUMNS`, one row per record."""
    path = user_path(source)
    problems = problems if problems is not None else Problems()
    if is_prepared_dataset(path):
        table = dataset_table(path, splits)
    elif path.is_dir() and (path / "keys.parquet").is_file():
        keys = pd.read_parquet(path / "keys.parquet")
        table = keys.reindex(columns=list(REFERENCE_COLUMNS))
        table["dna_barcode"] = [barcode_key(b) for b in table["dna_barcode"]]
    elif path.is_dir():
        raise InputError(f"{path} is neither a prepared dataset (bioscan-hf prepare) nor an index (bioscan-hf index)")
    elif not path.is_file():
        raise FileNotFoundError(f"{path}: no such reference file or folder")
    elif is_fasta(path):
        rows = [
            {"processid": rid, "dna_barcode": barcode, **taxonomy_from_header(header), "country": None}
            for rid, header, barcode, _ in iter_fasta(path, problems)
        ]
        table = pd.DataFrame(rows, columns=list(REFERENCE_COLUMNS))
        if table.empty or table[list(CALL_RANKS)].isna().all().all():
            raise InputError(
                f"{path}: no FASTA header carries a taxonomy; reference headers need SINTAX "
                "(>id;tax=o:Diptera,f:Culicidae,g:Aedes,s:Aedes_aegypti;) or BOLD (>processid|taxon|COI-5P|BIN) form"
            )
    elif is_bold_tsv(path):
        table = pd.DataFrame(list(bold_records(path, problems))).reindex(columns=list(REFERENCE_COLUMNS))
    else:
        raise InputError(
            f"{path}: not a reference this tool reads; give a prepared dataset folder, an index folder, "
            "a BOLD combined TSV export or a FASTA with taxonomy in its headers"
        )
    if table.empty:
        raise InputError(f"{path}: no usable reference records")
    return table.astype(object).where(table.notna(), None).reset_index(drop=True)


def filter_references(table: pd.DataFrame, within: str | None = None, country: str | None = None) -> pd.DataFrame:
    """References under the taxon `within` (at any rank) and from `country` (case-insensitive)."""
    keep = pd.Series(True, index=table.index)
    if within:
        name = within.strip().casefold()
        keep &= table[list(CALL_RANKS)].apply(lambda col: col.str.casefold() == name).any(axis=1)
    if country:
        keep &= table["country"].fillna("").str.casefold() == country.strip().casefold()
    kept = table[keep].reset_index(drop=True)
    if kept.empty:
        raise InputError(f"no reference record is within {within!r} / from {country!r}; check the spelling")
    return kept
