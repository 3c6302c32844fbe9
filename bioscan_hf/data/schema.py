"""The BIOSCAN-5M release as facts: columns, types, splits, packages, file paths (SPEC §1)."""

from __future__ import annotations

import hashlib
import re

import pyarrow as pa

from bioscan_hf.core.errors import InputError

#: Metadata columns in CSV header order, with the Arrow type each one is read as.
METADATA_COLUMNS: dict[str, pa.DataType] = {
    "processid": pa.string(),
    "sampleid": pa.string(),
    "taxon": pa.string(),
    "phylum": pa.string(),
    "class": pa.string(),
    "order": pa.string(),
    "family": pa.string(),
    "subfamily": pa.string(),
    "genus": pa.string(),
    "species": pa.string(),
    "dna_bin": pa.string(),
    "dna_barcode": pa.string(),
    "country": pa.string(),
    "province_state": pa.string(),
    "coord-lat": pa.float64(),
    "coord-lon": pa.float64(),
    "image_measurement_value": pa.int64(),
    "area_fraction": pa.float64(),
    "scale_factor": pa.float64(),
    "inferred_ranks": pa.int8(),
    "split": pa.string(),
    "index_bioscan_1M_insect": pa.int64(),
    "chunk": pa.string(),
}

#: Taxonomic ranks, coarse to fine.
RANKS: tuple[str, ...] = ("phylum", "class", "order", "family", "subfamily", "genus", "species")
#: The ranks of a lineage that identification and curation compare, coarse to fine.
LINEAGE_RANKS: tuple[str, ...] = ("order", "family", "subfamily", "genus", "species")
#: What identify calls, per query: the lineage ranks and the BIN.
CALL_RANKS: tuple[str, ...] = (*LINEAGE_RANKS, "dna_bin")
#: Columns encoded as `ClassLabel` with the bioscan-dataset convention (SPEC §1.4).
LABEL_COLUMNS: tuple[str, ...] = (*RANKS, "dna_bin")
#: Beside each label column's code, its name as text (what a Parquet reader without the card, such as
#: DuckDB or Polars, needs: bioscan-dataset's `{t}` beside `{t}_index`).
NAME_SUFFIX = "_name"
#: The record's 0-based row in the release metadata file (bioscan-dataset's DataFrame index): the order of
#: any union of splits, and the way back to the CSV.
ROW_COLUMN = "metadata_row"
#: Columns the prepared dataset adds to the release's, with their Arrow types.
DERIVED_COLUMNS: dict[str, pa.DataType] = {
    ROW_COLUMN: pa.int64(),
    **{f"{c}{NAME_SUFFIX}": pa.string() for c in LABEL_COLUMNS},
}

#: The eight partitions, in release order.
SPLITS: tuple[str, ...] = (
    "pretrain",
    "train",
    "val",
    "test",
    "key_unseen",
    "val_unseen",
    "test_unseen",
    "other_heldout",
)
SPLIT_ALIASES: dict[str, str] = {"validation": "val"}
#: The splits whose records are the keys of retrieval and the reference library of identification (SPEC §4).
KEY_SPLITS: tuple[str, ...] = ("train", "key_unseen")
#: Names for unions of splits (bioscan-dataset's metasplits); any splits may also be joined with "+".
METASPLITS: dict[str, tuple[str, ...]] = {
    "all": SPLITS,
    "seen": ("train", "val", "test"),
    "unseen": ("key_unseen", "val_unseen", "test_unseen"),
}

#: The official per-split-group zips of the 256 px packages.
SPLIT_GROUPS: dict[str, tuple[str, ...]] = {
    "pretrain": ("pretrain",),
    "train": ("train",),
    "eval": ("val", "test", "key_unseen", "val_unseen", "test_unseen", "other_heldout"),
}

#: Image packages and their approximate image size.
IMAGE_PACKAGES: tuple[str, ...] = ("cropped_256", "original_256", "cropped", "original_full")

METADATA_CSV_PATH = "bioscan5m/metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv"
METADATA_ZIP_NAME = "BIOSCAN_5M_Insect_Dataset_metadata_MultiTypes.zip"

#: Published md5 digests of release files (SPEC §1.1).
PUBLISHED_MD5: dict[str, str] = {
    METADATA_ZIP_NAME: "ac381b69fafdbaedc2f9cfb89e3571f7",
    "BIOSCAN_5M_Insect_Dataset_metadata.csv": "603020b433ef566946efba7a08dbb23d",
    "BIOSCAN_5M_cropped_256_train.zip": "3f170db5d95610644883dafc73389049",
    "BIOSCAN_5M_cropped_256_eval.zip": "16a997f72a8cd08cbcf7becafe2dda50",
}

#: Rows of the published metadata file (SPEC §1).
PUBLISHED_ROWS = 5_150_850

#: Number of hex digits of md5(processid) used as the image sub-folder, per split.
CHUNK_DIGITS: dict[str, int] = {
    "pretrain": 2,
    "train": 1,
    "other_heldout": 1,
    "val": 0,
    "test": 0,
    "key_unseen": 0,
    "val_unseen": 0,
    "test_unseen": 0,
}

_PLACEHOLDER_MARK = re.compile(r"[.\d]|malaise", re.IGNORECASE)


def resolve_split(name: str) -> str:
    """Return the canonical split name for `name` (aliases allowed), or raise listing valid ones."""
    name = SPLIT_ALIASES.get(name, name)
    if name not in SPLITS:
        raise InputError(f"unknown split {name!r}; valid splits: {', '.join(SPLITS)} (alias: validation)")
    return name


def explode_split(spec: str | None) -> tuple[str, ...]:
    """The splits a split name, alias, metasplit or "+"-joined combination stands for, in release order
    (bioscan-dataset's `explode_metasplit`; None means all)."""
    parts = [p.strip() for p in ("all" if spec is None else spec).split("+")]
    chosen: set[str] = set()
    for part in parts:
        if part in METASPLITS:
            chosen.update(METASPLITS[part])
        elif SPLIT_ALIASES.get(part, part) in SPLITS:
            chosen.add(SPLIT_ALIASES.get(part, part))
        else:
            raise InputError(
                f"unknown split {part!r} in {spec!r}; valid: {', '.join(SPLITS)}, the metasplits "
                f"{', '.join(METASPLITS)}, the alias validation, or splits joined with '+' (e.g. pretrain+train)"
            )
    return tuple(s for s in SPLITS if s in chosen)


def expected_chunk(processid: str, split: str) -> str:
    """The image sub-folder the release uses for a record: a prefix of md5(processid)."""
    digits = CHUNK_DIGITS[resolve_split(split)]
    return hashlib.md5(processid.encode()).hexdigest()[:digits]


def image_member_path(package: str, split: str, chunk: str | None, processid: str) -> str:
    """Path of an image inside its zip (and below the release root when extracted)."""
    folder = f"bioscan5m/images/{package}/{split}"
    if chunk:
        folder = f"{folder}/{chunk}"
    return f"{folder}/{processid}.jpg"


def is_placeholder_species(name: str) -> bool:
    """True for an undescribed species' placeholder name: lowercase start, a period, digits or 'malaise'."""
    return bool(name) and (name[0].islower() or bool(_PLACEHOLDER_MARK.search(name)))
