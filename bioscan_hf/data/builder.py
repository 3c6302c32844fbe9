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
import pyarrow.parquet as pq

from bioscan_hf.data.metadata import label_names, read_header, stage_splits
from bioscan_hf.data.release import CONFIGS, ImageStore, MissingImageError, find_images, find_metadata
from bioscan_hf.data.schema import DERIVED_COLUMNS, LABEL_COLUMNS, METADATA_COLUMNS, NAME_SUFFIX, ROW_COLUMN

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
        raise ValueError(
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


class Bioscan5M(datasets.GeneratorBasedBuilder):
    """Enumerates BIOSCAN-5M records from a release folder (zips, extracted files, or a mix)."""

    BUILDER_CONFIG_CLASS = Bioscan5MConfig
    BUILDER_CONFIGS = [
        Bioscan5MConfig(name=name, package=package, splits=splits, description=_config_description(name, package))
        for name, (package, splits) in CONFIGS.items()
    ]
    DEFAULT_CONFIG_NAME = "cropped_256"

    def _info(self) -> datasets.DatasetInfo:
        if not self.config.data_dir:
            raise ValueError("Bioscan5M needs data_dir: the folder holding the BIOSCAN-5M release files")
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

    def _generate_examples(self, metadata: str, split: str, staged: str | None, shards: list[int]):
        if not shards:
            return
        labels = {c: {n: i for i, n in enumerate(names)} for c, names in label_names(metadata).items()}
        store = None
        if self.config.package is not None:
            sources = find_images(self.config.data_dir).get(self.config.package)
            if sources is None or split not in sources.splits():
                raise MissingImageError(f"no {self.config.package} images for split {split} in {self.config.data_dir}")
            store = ImageStore(sources)
        skipped: list[str] = []
        excluded = set(self.config.exclude)
        parquet = pq.ParquetFile(staged)
        for shard in shards:  # one shard = one row group of the staged split
            for record in parquet.read_row_group(shard).to_pylist():
                if record["processid"] in excluded:
                    continue
                for name in LABEL_COLUMNS:
                    value = record[name]
                    record[name + NAME_SUFFIX] = value
                    record[name] = -1 if value is None else labels[name][value]
                if store is not None:
                    try:
                        data, member = store.read(record["processid"], split, record["chunk"])
                    except MissingImageError as err:
                        if self.config.on_missing_image != "skip":
                            raise
                        skipped.append(f"{record['processid']}\t{split}\t{err}")
                        continue
                    record["image"] = {"bytes": data, "path": member}
                yield record["processid"], record
        if self.config.report_dir is not None and skipped:
            report = Path(self.config.report_dir) / f"skipped-{split}-{min(shards):05d}.json"
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(json.dumps(skipped))
