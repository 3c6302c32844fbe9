"""`build_index` / `bioscan-hf index`: writes only into a new or empty folder or an index folder it wrote,
and replaces an index only by a complete one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bioscan_hf.cli import main
from bioscan_hf.search import Searcher, build_index


def _state(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


@pytest.mark.damaged_input
def test_index_folders_are_never_mixed_with_a_users_files(prepared: Path, tmp_path: Path, capsys) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keys.parquet").write_text("my own table")
    before = _state(mine)
    args = ["index", "--dataset", str(prepared), "--model", "kmer4", "--out", str(mine)]
    assert main(args) == 1
    assert f"{mine} holds files that bioscan-hf index did not write (keys.parquet)" in capsys.readouterr().err
    assert _state(mine) == before
    index = build_index(prepared, "kmer4", tmp_path / "index")
    first = _state(index)
    with pytest.raises(FileNotFoundError):  # a failed rebuild (no such dataset) keeps the finished index
        build_index(tmp_path / "no-dataset", "kmer4", index)
    assert _state(index) == first and not (index / ".staging").exists()
    again = build_index(prepared, "kmer5", index)  # its own folder: replaced by the complete new index
    assert Searcher(again).info["model"] == "kmer5" and not (index / ".staging").exists()
