"""Output paths are checked, and their folder made, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioscan_hf.cli import main
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.outputs import output_path


def test_a_missing_folder_is_made_and_a_file_in_its_place_refused(tmp_path: Path) -> None:
    assert output_path(tmp_path / "a" / "b" / "calls.tsv", (".tsv",)) == tmp_path / "a" / "b" / "calls.tsv"
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "taken").write_text("a file the user keeps")
    with pytest.raises(InputError, match="folder .*taken cannot be made"):
        output_path(tmp_path / "taken" / "calls.tsv", (".tsv",))
    assert (tmp_path / "taken").read_text() == "a file the user keeps"


def test_cluster_writes_into_a_folder_it_makes(tmp_path: Path) -> None:
    """`cluster` failed at its first write, after all the work, when OUT's folder did not exist."""
    fasta = tmp_path / "plate.fasta"
    barcode = "ACGT" * 120
    fasta.write_text(f">a\n{barcode}\n>b\n{barcode}\n")
    assert main(["cluster", str(fasta), "--out", str(tmp_path / "out" / "clusters.tsv"), "-q"]) == 0
    assert (tmp_path / "out" / "clusters.tsv").read_text().splitlines()[0].startswith("processid\tcluster")
