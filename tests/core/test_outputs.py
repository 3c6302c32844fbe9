"""Output paths are checked before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioscan_hf.cli import main
from bioscan_hf.core.errors import InputError
from bioscan_hf.core.outputs import output_path


def test_an_output_in_a_missing_folder_is_refused_with_the_command_that_makes_it(tmp_path: Path) -> None:
    missing = tmp_path / "no such" / "calls.tsv"
    with pytest.raises(InputError, match="mkdir -p '.*no such'"):
        output_path(missing, (".tsv",))
    assert output_path(tmp_path / "calls.tsv", (".tsv",)) == tmp_path / "calls.tsv"
    assert not missing.parent.exists()


def test_cluster_refuses_it_before_reading_anything(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    fasta = tmp_path / "plate.fasta"
    fasta.write_text(">a\nACGT\n")
    assert main(["cluster", str(fasta), "--out", str(tmp_path / "out" / "clusters.tsv")]) == 1
    assert f"create it first (mkdir -p {tmp_path / 'out'})" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plate.fasta"]
