"""A prepared folder read the way bioscan-dataset (1.3.0, installed from the package index) reads the
release: every split name, rows, order, label indices and names, barcodes, reduction and both outputs; and
the label names readable by a Parquet client that knows nothing of the card (DuckDB)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import bioscan_dataset.bioscan5m as reference
import datasets
import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from bioscan_hf.data.builder import extra_columns
from bioscan_hf.data.schema import LABEL_COLUMNS, SPLITS, explode_split
from bioscan_hf.data.selection import load_split
from bioscan_hf.data.torch_dataset import BIOSCAN5M

#: bioscan-dataset 1.3.0 calls DataFrame.drop(inplace=True), which pandas 3.1 warns about.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")

#: Every kind of name bioscan-dataset accepts: splits, alias, metasplits, "+" joins (also of metasplits).
SPLIT_NAMES = ("train", "validation", "val", "pretrain", "seen", "unseen", "all", "pretrain+train", "unseen+test")


class _Reference(reference.BIOSCAN5M):
    """bioscan-dataset's class on the generated release: its md5 check is of the real release's files."""

    def _check_integrity(self, verbose: int = 1) -> bool:
        return True


@pytest.fixture(scope="module")
def release_root(sample_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated release extracted where bioscan-dataset looks (`root/bioscan5m/...`)."""
    root = tmp_path_factory.mktemp("bioscan_dataset_root")
    for name in ("BIOSCAN_5M_Insect_Dataset_metadata_MultiTypes.zip", *_cropped_zips(sample_release)):
        with zipfile.ZipFile(sample_release / name) as archive:
            archive.extractall(root)
    return root


def _cropped_zips(release: Path) -> list[str]:
    return sorted(p.name for p in release.glob("BIOSCAN_5M_cropped_256_*.zip"))


def test_split_names_explode_as_bioscan_dataset_does() -> None:
    for name in SPLIT_NAMES:
        assert set(explode_split(name)) == reference.explode_metasplit(name, verify=True), name
    assert explode_split("test+train") == ("train", "test")  # release order, whatever the order asked
    with pytest.raises(ValueError, match="unknown split 'trian'.*metasplits all, seen, unseen"):
        explode_split("pretrain+trian")


@pytest.mark.parametrize("reduce", [False, True])
def test_metadata_frame_equals_bioscan_dataset(prepared: Path, release_root: Path, reduce: bool) -> None:
    for split in SPLIT_NAMES:
        theirs = _Reference(release_root, split=split, modality="dna", reduce_repeated_barcodes=reduce).metadata
        ours = BIOSCAN5M(prepared, split=split, modality="dna", reduce_repeated_barcodes=reduce).metadata
        assert len(ours) > 0, split
        pd.testing.assert_frame_equal(ours, theirs, check_index_type=False, obj=f"{split} (reduce={reduce})")


def test_items_equal_bioscan_dataset_in_both_output_formats(prepared: Path, release_root: Path) -> None:
    options = {"modality": ("image", "dna", "coord-lat"), "target_type": ["genus", "species", "dna_bin"]}
    for output_format in ("tuple", "dict"):
        for split in ("seen", "key_unseen"):
            theirs = _Reference(release_root, split=split, output_format=output_format, **options)
            ours = BIOSCAN5M(prepared, split=split, output_format=output_format, **options)
            assert len(ours) == len(theirs)
            for i in (0, len(theirs) // 2, len(theirs) - 1):
                a, b = theirs[i], ours[i]
                if output_format == "dict":
                    assert list(a) == list(b)
                    a, b = list(a.values()), list(b.values())
                assert np.array_equal(np.asarray(a[0]), np.asarray(b[0]))  # the decoded image, pixel for pixel
                assert [str(x) for x in a[1:]] == [str(x) for x in b[1:]]
    text = BIOSCAN5M(prepared, split="test", modality=(), target_type="order", target_format="text")
    index = _Reference(release_root, split="test", modality=(), target_type="order", target_format="text")
    assert [text[i] for i in range(len(text))] == [index[i] for i in range(len(index))]


def test_label_lookups_and_truncation_match(prepared: Path, release_root: Path) -> None:
    theirs = _Reference(release_root, split="all", modality="dna", max_nucleotides=100)
    ours = BIOSCAN5M(prepared, split="all", modality="dna", max_nucleotides=100)
    assert ours[0] == theirs[0] and len(ours[0][0]) == 100
    codes = [0, 3, -1, 1]
    assert list(ours.index2label(codes, "order")) == list(theirs.index2label(codes, "order"))
    names = list(theirs.index2label(codes, "genus"))
    # (bioscan-dataset 1.3.0's label2index fails on a list: pandas.isna of a list; compared name by name)
    assert list(ours.label2index(names, "genus")) == [theirs.label2index(n, "genus") for n in names]
    assert ours.label2index("") == -1 and ours.index2label(-1) == ""
    whole = BIOSCAN5M(prepared, split="all", modality="dna", max_nucleotides=None)
    assert whole.metadata["dna_barcode"].str.len().max() > 100


def test_wrong_arguments_say_what_to_do(prepared: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown split 'tset'"):
        BIOSCAN5M(prepared, split="tset")
    with pytest.raises(ValueError, match="bioscan-hf download RELEASE"):
        BIOSCAN5M(prepared, download=True)
    with pytest.raises(ValueError, match="no finished 'original_256' config.*--configs original_256"):
        BIOSCAN5M(prepared, image_package="original_256")
    with pytest.raises(ValueError, match="unknown target_type kingdom"):
        BIOSCAN5M(prepared, target_type="kingdom")


@pytest.mark.damaged_input
def test_a_folder_prepared_before_the_row_column_is_refused(prepared: Path, tmp_path: Path) -> None:
    import shutil

    old = tmp_path / "old"
    shutil.copytree(prepared, old)
    for path in (old / "data" / "metadata").glob("*.parquet"):
        pq.write_table(pq.read_table(path).drop_columns(["metadata_row"]), path)
    with pytest.raises(ValueError, match="no metadata_row column.*prepared by an older bioscan-hf"):
        BIOSCAN5M(old, split="seen", modality="dna")


@pytest.mark.damaged_input
def test_a_metadata_column_named_like_a_derived_one_is_refused() -> None:
    with pytest.raises(ValueError, match="order_name.*rename them"):
        extra_columns(["processid", "order", "order_name"])


def test_load_split_accepts_every_name_in_release_order(prepared: Path, release_root: Path) -> None:
    for split in SPLIT_NAMES:
        expected = _Reference(release_root, split=split, modality="dna").metadata
        table = load_split(prepared, "metadata", split=split)
        assert table["processid"] == expected["processid"].tolist(), split
        assert table["metadata_row"] == expected.index.tolist()
        streamed = [row["processid"] for row in load_split(prepared, "metadata", split=split, streaming=True)]
        by_split = expected.assign(order=expected["split"].map(SPLITS.index)).sort_values("order", kind="stable")
        assert streamed == by_split["processid"].tolist(), split  # streamed: one split after another


def test_load_split_reduces_and_truncates_in_both_modes(prepared: Path, release_root: Path) -> None:
    expected = _Reference(release_root, split="seen", modality="dna", reduce_repeated_barcodes=True).metadata
    options = {"split": "seen", "max_nucleotides": 660, "reduce_repeated_barcodes": True}
    table = load_split(prepared, "metadata", **options)
    assert table["processid"] == expected["processid"].tolist()
    assert table["dna_barcode"] == expected["dna_barcode"].tolist()
    streamed = list(load_split(prepared, "metadata", streaming=True, **options))
    assert sorted(r["processid"] for r in streamed) == sorted(expected["processid"])
    short = load_split(prepared, "cropped_256", split="validation", max_nucleotides=50)
    assert {len(b) for b in short["dna_barcode"]} == {50} and min(short[0]["image"].size) == 256


def test_plain_load_dataset_takes_all_and_joined_splits(prepared: Path) -> None:
    joined = datasets.load_dataset(str(prepared), "metadata", split="train+val+test")
    assert sorted(joined["processid"]) == sorted(load_split(prepared, "metadata", split="seen")["processid"])
    assert len(datasets.load_dataset(str(prepared), "metadata", split="all")) == len(
        load_split(prepared, "metadata", split="all")
    )


def test_duckdb_reads_label_names_beside_codes(prepared: Path) -> None:
    files = str(prepared / "data" / "metadata" / "*.parquet")
    rows = duckdb.sql(
        f"SELECT order_name, count(*) AS n FROM '{files}' WHERE split = 'test' GROUP BY order_name ORDER BY n DESC"
    ).fetchall()
    test = datasets.load_dataset(str(prepared), "metadata", split="test")
    names = test.features["order"].names
    counts = pd.Series([names[i] for i in test["order"]]).value_counts()
    assert dict(rows) == counts.to_dict()
    for rank in LABEL_COLUMNS:  # the name column is exactly the ClassLabel's name of the code
        codes, text = test[rank], test[f"{rank}_name"]
        features = test.features[rank]
        assert text == [features.int2str(c) if c >= 0 else None for c in codes]
