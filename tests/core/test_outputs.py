"""An output's missing folder is made when it is written; one under a file is refused before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioscan_hf.cli import main
from bioscan_hf.core.outputs import write_atomically


def test_a_missing_folder_is_made_when_the_file_is_written(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "calls.tsv"
    write_atomically(target, lambda partial: partial.write_text("whole"))
    assert target.read_text() == "whole" and [p.name for p in target.parent.iterdir()] == ["calls.tsv"]


@pytest.mark.parametrize("command", ["cluster", "audit"])
def test_cluster_and_audit_write_into_a_folder_they_make(command: str, tmp_path: Path) -> None:
    """They failed at their first write, after all the work, when OUT's folder did not exist."""
    fasta = tmp_path / "plate.fasta"
    barcode = "ACGT" * 120
    fasta.write_text(f">a|Aedes aegypti\n{barcode}\n>b|Aedes aegypti\n{barcode}\n")
    out = tmp_path / "new" / "deeper" / f"{command}.tsv"
    assert main([command, str(fasta), "--out", str(out), "-q"]) == 0
    assert out.read_text().splitlines()[0].startswith("processid\t")
