"""`BIOSCAN5M`: a `torch.utils.data.Dataset` with the constructor and outputs of the `bioscan-dataset`
package (1.3.0), reading a folder written by `bioscan-hf prepare`. Switching is one import line:

    from bioscan_hf.data.torch_dataset import BIOSCAN5M      # was: from bioscan_dataset import BIOSCAN5M
    data = BIOSCAN5M("path/to/prepared", split="seen", modality=("image", "dna"), target_type="genus")

Same splits (aliases, metasplits, "+"), label indices (category codes over the whole release, −1 missing),
`max_nucleotides`, `reduce_repeated_barcodes`, tuple or dict output, `index2label`/`label2index`, and a
`metadata` DataFrame with the same columns and index (the record's row in the metadata CSV). Images are
decoded lazily from the prepared image config, then given to `transform`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import datasets
import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch.utils.data

from bioscan_hf.core.errors import InputError
from bioscan_hf.core.paths import user_path
from bioscan_hf.data.prepared import completed_configs
from bioscan_hf.data.release import CONFIGS
from bioscan_hf.data.schema import LABEL_COLUMNS, METADATA_COLUMNS, ROW_COLUMN, SPLIT_ALIASES, explode_split
from bioscan_hf.data.selection import config_files, read_columns, reduced_rows, truncate_barcodes

#: The columns bioscan-dataset reads from the metadata CSV (its USECOLS), in the file's order.
METADATA_FRAME_COLUMNS = tuple(
    c for c in METADATA_COLUMNS if c not in ("sampleid", "taxon", "inferred_ranks", "index_bioscan_1M_insect")
)
#: Free-text columns bioscan-dataset reads as categoricals (categories over the whole file).
PLACE_COLUMNS = ("country", "province_state")
DNA_MODALITIES = ("dna", "dna_barcode", "barcode")


def label_names(folder: str | os.PathLike, config: str) -> dict[str, list[str]]:
    """Each label column's class names in index order, from the features `datasets` stores in the Parquet."""
    first = next(f for files in config_files(folder, config, explode_split("all")).values() for f in files)
    features = datasets.Features.from_arrow_schema(pq.read_schema(first))
    return {c: list(features[c].names) for c in LABEL_COLUMNS}


def load_metadata_frame(
    folder: str | os.PathLike,
    split: str | None = None,
    max_nucleotides: int | None = 660,
    reduce_repeated_barcodes: bool = False,
    config: str = "metadata",
) -> pd.DataFrame:
    """bioscan-dataset's `load_bioscan5m_metadata` on a prepared folder: the same columns (labels as
    categoricals over the whole release, `{t}_index` codes, `image_path`), index and rows."""
    names = label_names(folder, config)
    table = read_columns(folder, config, list(METADATA_FRAME_COLUMNS), split)
    frame = table.drop_columns([*LABEL_COLUMNS, "dna_barcode"]).to_pandas()
    frame.index = pd.Index(frame.pop(ROW_COLUMN).to_numpy())
    frame["image_measurement_value"] = frame["image_measurement_value"].astype("float64")  # read as float there
    frame["dna_barcode"] = truncate_barcodes(table["dna_barcode"], max_nucleotides).to_pandas().to_numpy()
    for column in LABEL_COLUMNS:
        codes = table[column].to_numpy()
        frame[column] = pd.Categorical.from_codes(codes, categories=names[column])
        frame[f"{column}_index"] = frame[column].cat.codes  # pandas' smallest integer type, as there
    whole = read_columns(folder, config, list(PLACE_COLUMNS))  # categories over the whole release
    for column in PLACE_COLUMNS:
        values = frame[column].astype(object).where(frame[column].notna(), None)
        frame[column] = pd.Categorical(values, categories=sorted(pc.unique(whole[column]).drop_null().to_pylist()))
    if reduce_repeated_barcodes:
        frame = frame[frame.index.isin(reduced_rows(folder, config, max_nucleotides))]
    chunk = frame["chunk"].fillna("").astype(str)
    folder = frame["split"] + os.sep + chunk.where(chunk == "", chunk + os.sep)
    frame["image_path"] = folder + frame["processid"] + ".jpg"
    return frame[[*METADATA_FRAME_COLUMNS, *(f"{c}_index" for c in LABEL_COLUMNS), "image_path"]]


class BIOSCAN5M(torch.utils.data.Dataset):
    """BIOSCAN-5M records of a prepared folder, as `bioscan_dataset.BIOSCAN5M` gives them from a release.

    `root` is a folder written by `bioscan-hf prepare` (not the release itself: prepare it once with
    `bioscan-hf prepare RELEASE OUT --configs metadata cropped_256`). Every other argument means what it
    means in bioscan-dataset; `download=True` is refused with the commands that fetch and prepare a release.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        modality: str | Iterable[str] = ("image", "dna"),
        image_package: str = "cropped_256",
        reduce_repeated_barcodes: bool = False,
        max_nucleotides: int | None = 660,
        target_type: str | Iterable[str] = "species",
        target_format: str = "index",
        output_format: str = "tuple",
        transform: Callable | None = None,
        dna_transform: Callable | None = None,
        target_transform: Callable | None = None,
        download: bool = False,
    ) -> None:
        self.root = user_path(root)
        if download:
            raise InputError(
                "BIOSCAN5M(download=True) is not how bioscan-hf fetches data: run `bioscan-hf download RELEASE` "
                f"and `bioscan-hf prepare RELEASE {self.root}`, then pass that folder as root"
            )
        self.split = SPLIT_ALIASES.get(split, split)
        explode_split(self.split)  # a clear error for an unknown name, before any reading
        self.modality = [modality] if isinstance(modality, str) else list(modality)
        self.target_type = [target_type] if isinstance(target_type, str) else list(target_type)
        self.target_type = ["dna_bin" if t == "uri" else t for t in self.target_type]
        self.image_package = image_package
        self.target_format = target_format
        self.output_format = "dict" if output_format == "dictionary" else output_format
        self.max_nucleotides = max_nucleotides
        self.reduce_repeated_barcodes = reduce_repeated_barcodes
        self.transform, self.dna_transform, self.target_transform = transform, dna_transform, target_transform
        if target_format not in ("index", "text"):
            raise InputError(f"Unknown target_format: {target_format!r}; use 'index' or 'text'")
        if self.output_format not in ("tuple", "dict"):
            raise InputError(f"Unknown output_format: {output_format!r}; use 'tuple' or 'dict'")
        if not self.target_type and target_transform is not None:
            raise RuntimeError("target_transform is specified but target_type is empty")
        unknown = [t for t in self.target_type if t not in LABEL_COLUMNS]
        if unknown:
            raise InputError(f"unknown target_type {', '.join(unknown)}; choose from {', '.join(LABEL_COLUMNS)}")
        done = completed_configs(self.root)
        if "image" in self.modality and image_package not in done:
            packages = ", ".join(c for c in done if c in CONFIGS and CONFIGS[c][0] is not None) or "none"
            raise InputError(
                f"{self.root} has no finished {image_package!r} config (image configs: {packages});"
                f" run `bioscan-hf prepare RELEASE {self.root} --configs {image_package}`"
            )
        source = "metadata" if "metadata" in done else image_package
        self.metadata = load_metadata_frame(self.root, self.split, max_nucleotides, reduce_repeated_barcodes, source)
        self._images: dict[str, tuple[datasets.Dataset, dict[str, int]]] = {}

    def __len__(self) -> int:
        return len(self.metadata)

    def _image(self, processid: str, split: str) -> Any:
        """The record's image, decoded now (its split's image table is opened on first use)."""
        if split not in self._images:
            table = datasets.load_dataset(str(self.root), self.image_package, split=split).select_columns(
                ["processid", "image"]
            )
            self._images[split] = (table, {pid: i for i, pid in enumerate(table["processid"][:])})
        table, rows = self._images[split]
        if processid not in rows:
            raise KeyError(f"{processid} has no image in {self.root}'s {self.image_package} config ({split})")
        return table[rows[processid]]["image"]

    def __getitem__(self, index: int) -> tuple | dict:
        sample = self.metadata.iloc[index]
        values: list[tuple[str, Any]] = []
        for modality in self.modality:
            if modality == "image":
                value = self._image(sample["processid"], sample["split"])
                value = value if self.transform is None else self.transform(value)
            elif modality in DNA_MODALITIES:
                value = sample["dna_barcode"]
                value = value if self.dna_transform is None else self.dna_transform(value)
            elif modality in self.metadata.columns:
                value = sample[modality]
            else:
                raise InputError(f"Unfamiliar modality: {modality!r}")
            values.append((modality, value))
        targets = []
        for t in self.target_type:
            targets.append(sample[f"{t}_index"] if self.target_format == "index" else sample[t])
            if self.output_format == "dict":
                values += [(t, sample[t]), (f"{t}_index", sample[f"{t}_index"])]
        target = None
        if targets:
            target = tuple(targets) if len(targets) > 1 else targets[0]
            target = target if self.target_transform is None else self.target_transform(target)
        values.append(("target", target))
        return dict(values) if self.output_format == "dict" else tuple(v for _, v in values)

    def _column(self, column: str | None) -> str:
        if column is not None:
            return column
        if len(self.target_type) != 1:
            raise InputError("column must be specified if there isn't a single target_type")
        return self.target_type[0]

    def index2label(self, index: int | Iterable[int], column: str | None = None) -> str | np.ndarray:
        """Label name(s) of index(es) in `column` ("" for a negative index)."""
        categories = self.metadata[self._column(column)].cat.categories
        if np.ndim(index) == 0:
            return "" if index < 0 else categories[index]
        index = np.asarray(index)
        names = np.asarray(categories[np.where(index < 0, 0, index)], dtype=object)
        names[index < 0] = ""
        return names

    def label2index(self, label: str | Iterable[str], column: str | None = None) -> int | np.ndarray:
        """Index(es) of label name(s) in `column` (−1 for "" or missing)."""
        categories = self.metadata[self._column(column)].cat.categories

        def one(name: Any) -> int:
            if name is None or (isinstance(name, float) and np.isnan(name)) or name == "":
                return -1
            if name not in categories:
                raise KeyError(f"Label {name!r} not found in metadata column {self._column(column)!r}")
            return int(categories.get_loc(name))

        return one(label) if isinstance(label, str) or label is None else np.asarray([one(x) for x in label])
