"""BIOSCAN-5M as a `datasets` builder: it only knows how to enumerate the records of a release.

    builder = Bioscan5M(config_name="cropped_256", data_dir="path/to/release")
    builder.download_and_prepare()
    test = builder.as_dataset(split="test")

`bioscan-hf prepare` runs this builder to publish Parquet for the Hub (datasets ≥ 4 loads no scripts).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bioscan_hf.core.errors import InputError
from bioscan_hf.data.metadata import read_header
from bioscan_hf.data.release import CONFIGS, ImageStore, MissingImageError, find_images, find_metadata
from bioscan_hf.data.schema import DERIVED_COLUMNS, LABEL_COLUMNS, METADATA_COLUMNS, NAME_SUFFIX, ROW_COLUMN
from bioscan_hf.data.staging import label_names, stage_splits

_DESCRIPTION = (
    "BIOSCAN-5M: 5,150,850 arthropod specimens, each with a microscope image, a COI DNA barcode and a "
    "taxonomic label (Gharaee et al., 2024, arXiv:2406.12723)."
)
_CITATION = """@inproceedings{gharaee2024bioscan5m,
  title={{BIOSCAN-5M}: A Multimodal Dataset for Insect Biodiversity},
  author={Gharaee, Zahra and Lowe, Scott C. and Gong, ZeMing and Millan Arias, Pablo and others},
  booktitle={Advances in Neural Information Processing Systems},
  year={2024}
}"""
_HOMEPAGE = "https://biodiversitygenomics.net/5M-insects/"
_LICENSE = "cc-by-3.0"

#: Records per builder shard (a unit of parallel work with `num_proc`; one staged Parquet row group).
RECORDS_PER_SHARD = 10_000
#: Records per table written with their images (as `datasets` batches image rows: 100).
IMAGES_PER_TABLE = 100
#: How an `Image` feature is stored in Arrow.
IMAGE_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
ON_MISSING_IMAGE = ("error", "skip")


@dataclass
class Bioscan5MConfig(datasets.BuilderConfig):
    """One config: the metadata alone, or with one image package, for all splits or a split group."""

    package: str | None = None
    splits: tuple[str, ...] = ()
    on_missing_image: str = "error"
    #: Folder where skipped records are listed, one file per split shard (with on_missing_image="skip").
    report_dir: str | None = None
    #: processids left out of every split (a curated release: `prepare --exclude`)
    exclude: tuple[str, ...] = ()


def extra_columns(header: list[str]) -> list[str]:
    """Columns of a metadata file beyond the release schema; kept as strings, never dropped. A column named
    like one the dataset derives (`order_name`, `metadata_row`) is refused: it would be overwritten."""
    clash = [c for c in header if c in DERIVED_COLUMNS]
    if clash:
        raise InputError(
            f"the metadata file has column(s) {', '.join(clash)}, which the prepared dataset derives itself "
            "(label names, the record's row): rename them in the file"
        )
    return [c for c in header if c not in METADATA_COLUMNS]


def bioscan_features(
    labels: dict[str, list[str]], with_image: bool, extra: tuple[str, ...] | list[str] = ()
) -> datasets.Features:
    """The features of every config, declared once: typed metadata, ClassLabel ranks and BIN, each with its
    name as text beside it, the record's row in the metadata file, any extra columns of the file as
    strings, image."""
    features = {}
    for name, arrow_type in {**METADATA_COLUMNS, ROW_COLUMN: DERIVED_COLUMNS[ROW_COLUMN]}.items():
        if name in LABEL_COLUMNS:
            features[name] = datasets.ClassLabel(names=labels[name])
            features[name + NAME_SUFFIX] = datasets.Value("string")
        else:
            features[name] = datasets.Value(str(arrow_type) if str(arrow_type) != "double" else "float64")
    for name in extra:
        features[name] = datasets.Value("string")
    if with_image:
        features["image"] = datasets.Image()
    return datasets.Features(features)


def _config_description(name: str, package: str | None) -> str:
    images = "metadata only, no images" if package is None else f"metadata with {package} images"
    return f"{name}: {images}"


class Bioscan5M(datasets.ArrowBasedBuilder):
    """Enumerates BIOSCAN-5M records from a release folder (zips, extracted files, or a mix)."""

    BUILDER_CONFIG_CLASS = Bioscan5MConfig
    BUILDER_CONFIGS = [
        Bioscan5MConfig(name=name, package=package, splits=splits, description=_config_description(name, package))
        for name, (package, splits) in CONFIGS.items()
    ]
    DEFAULT_CONFIG_NAME = "cropped_256"

    def _info(self) -> datasets.DatasetInfo:
        if not self.config.data_dir:
            raise InputError("Bioscan5M needs data_dir: the folder holding the BIOSCAN-5M release files")
        metadata = find_metadata(self.config.data_dir)
        features = bioscan_features(
            label_names(metadata), self.config.package is not None, extra_columns(read_header(metadata))
        )
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=features,
            homepage=_HOMEPAGE,
            license=_LICENSE,
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        metadata = find_metadata(self.config.data_dir)
        staged = stage_splits(metadata, RECORDS_PER_SHARD)
        generators = []
        for split in self.config.splits:
            path, n_rows = staged.get(split, (None, 0))
            shards = list(range(math.ceil(n_rows / RECORDS_PER_SHARD)))
            generators.append(
                datasets.SplitGenerator(
                    name=split, gen_kwargs={"metadata": str(metadata), "split": split, "staged": path, "shards": shards}
                )
            )
        return generators

    def _generate_tables(self, metadata: str, split: str, staged: str | None, shards: list[int]):
        """One Arrow table per shard (a row group of the staged split): label names coded as the whole
        file's indices (−1 missing) with the names kept beside them, excluded records dropped, the image
        of each record read from the release (or the record skipped and listed, with on_missing_image)."""
        if not shards:
            return
        names = label_names(metadata)
        store = None
        if self.config.package is not None:
            sources = find_images(self.config.data_dir).get(self.config.package)
            if sources is None or split not in sources.splits():
                raise MissingImageError(f"no {self.config.package} images for split {split} in {self.config.data_dir}")
            store = ImageStore(sources)
        skipped: list[str] = []
        excluded = pa.array(sorted(self.config.exclude), pa.string())
        parquet = pq.ParquetFile(staged)
        for shard in shards:  # one shard = one row group of the staged split
            table = parquet.read_row_group(shard)
            if len(excluded):
                table = table.filter(pc.invert(pc.is_in(table["processid"], value_set=excluded)))
            for name in LABEL_COLUMNS:
                values = table[name]
                codes = pc.fill_null(pc.index_in(values, value_set=pa.array(names[name], pa.string())), -1)
                table = table.set_column(table.schema.get_field_index(name), name, codes)
                table = table.append_column(name + NAME_SUFFIX, values)
            if store is None:
                yield f"{split}-{shard}", table
                continue
            for start in range(0, table.num_rows, IMAGES_PER_TABLE):  # shards can then close near their size
                part = self._with_images(table.slice(start, IMAGES_PER_TABLE), split, store, skipped)
                yield f"{split}-{shard}-{start}", part
        if self.config.report_dir is not None and skipped:
            report = Path(self.config.report_dir) / f"skipped-{split}-{min(shards):05d}.json"
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(json.dumps(skipped))

    def _with_images(self, table: pa.Table, split: str, store: ImageStore, skipped: list[str]) -> pa.Table:
        """`table` with each record's image (bytes and path in the release); records without one raise, or
        with on_missing_image="skip" are left out and listed in `skipped`."""
        images, keep = [], []
        for pid, chunk in zip(table["processid"].to_pylist(), table["chunk"].to_pylist()):
            try:
                data, member = store.read(pid, split, chunk)
            except MissingImageError as err:
                if self.config.on_missing_image != "skip":
                    raise
                skipped.append(f"{pid}\t{split}\t{err}")
                keep.append(False)
                continue
            images.append({"bytes": data, "path": member})
            keep.append(True)
        table = table.filter(pa.array(keep, pa.bool_())) if not all(keep) else table
        return table.append_column("image", pa.array(images, IMAGE_STRUCT))
