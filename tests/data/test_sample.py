"""The synthetic release: layout, determinism and the properties models need to learn from it."""

from __future__ import annotations

import hashlib
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from bioscan_hf.data.metadata import read_metadata
from bioscan_hf.data.release import find_images
from bioscan_hf.data.sample import generate_records, write_sample_release
from bioscan_hf.data.schema import IMAGE_PACKAGES, METADATA_ZIP_NAME, SPLITS, expected_chunk, is_placeholder_species


def _identity(a: str, b: str) -> float:
    n = min(len(a), len(b), 600)
    return float(np.mean(np.frombuffer(a[:n].encode(), np.uint8) == np.frombuffer(b[:n].encode(), np.uint8)))


def test_layout_matches_the_release(sample_release: Path) -> None:
    table = read_metadata(sample_release / METADATA_ZIP_NAME)
    assert set(table.column("split").to_pylist()) == set(SPLITS)
    images = find_images(sample_release)
    assert set(images) == set(IMAGE_PACKAGES)
    rows = table.to_pylist()
    for package in IMAGE_PACKAGES:
        names = set()
        for path in images[package].zips:
            with zipfile.ZipFile(path) as archive:
                names |= set(archive.namelist())
        for row in rows[:50]:
            chunk = row["chunk"] or ""
            folder = f"bioscan5m/images/{package}/{row['split']}" + (f"/{chunk}" if chunk else "")
            assert f"{folder}/{row['processid']}.jpg" in names
    for row in rows:
        assert row["chunk"] == (expected_chunk(row["processid"], row["split"]) or None)
        assert row["chunk"] is None or len(row["chunk"]) == {"pretrain": 2}.get(row["split"], 1)


def test_same_seed_same_files(tmp_path: Path) -> None:
    a = write_sample_release(tmp_path / "a", scale=60, seed=1, images=False)
    b = write_sample_release(tmp_path / "b", scale=60, seed=1, images=False)
    digest = [
        hashlib.md5(
            zipfile.ZipFile(p / METADATA_ZIP_NAME).read(zipfile.ZipFile(p / METADATA_ZIP_NAME).namelist()[0])
        ).hexdigest()
        for p in (a, b)
    ]
    assert digest[0] == digest[1]


def test_barcodes_carry_the_taxonomy() -> None:
    rows, taxa, owner = generate_records(1500, seed=0)
    by_species = defaultdict(list)
    for row, t in zip(rows, owner):
        by_species[t].append(row["dna_barcode"].strip("N"))
    within = [_identity(s[0], s[-1]) for s in by_species.values() if len(s) > 1]
    assert np.median(within) > 0.98  # < 2% within species
    congeneric = []
    for i, a in enumerate(taxa):
        for j, b in enumerate(taxa[:i]):
            if a.genus == b.genus and by_species.get(i) and by_species.get(j):
                congeneric.append(1 - _identity(by_species[i][0], by_species[j][0]))
    assert 0.02 < np.median(congeneric) < 0.15  # several % between congeneric species
    text = "".join(r["dna_barcode"] for r in rows[:200]).replace("N", "")
    at = (text.count("A") + text.count("T")) / len(text)
    assert 0.6 < at < 0.8  # AT-rich like insect COI


def test_labels_look_like_bioscan() -> None:
    rows, _, _ = generate_records(2000, seed=0)
    species = [r["species"] for r in rows if r["species"]]
    assert any(is_placeholder_species(s) for s in species) and any(not is_placeholder_species(s) for s in species)
    assert any((r["subfamily"] or "").startswith("unassigned ") for r in rows)
    assert any(r["genus"] is None for r in rows)
    assert any(r["dna_barcode"].endswith("N") for r in rows)
    counts = sorted(np.unique(species, return_counts=True)[1])
    assert counts[-1] > 10 * counts[0]  # long-tailed


def test_scale_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scale"):
        write_sample_release(tmp_path, scale=3)


@pytest.mark.damaged_input
def test_sample_never_replaces_a_release_it_did_not_write(tmp_path: Path) -> None:
    real = tmp_path / "bioscan5m"
    real.mkdir()
    (real / "BIOSCAN_5M_Insect_Dataset_metadata_MultiTypes.zip").write_bytes(b"the real release")
    before = {p.name: p.read_bytes() for p in real.iterdir()}
    with pytest.raises(FileExistsError, match="did not write .*BIOSCAN_5M_Insect_Dataset_metadata_MultiTypes.zip"):
        write_sample_release(real, scale=60, images=False)
    assert {p.name: p.read_bytes() for p in real.iterdir()} == before
    again = write_sample_release(tmp_path / "synthetic", scale=60, images=False)
    assert write_sample_release(again, scale=60, images=False) == again  # its own folder: written again
