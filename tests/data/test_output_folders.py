"""Nothing a user has is lost: `prepare` writes only into a new or empty folder or one it wrote, keeps a
finished config until its replacement is complete, never deletes a file it did not write, and leaves
nothing behind when it fails. Each case builds the folder and compares every file before and after."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import datasets
import pytest

from bioscan_hf.cli import main
from bioscan_hf.core.outputs import OWNER_FILE
from bioscan_hf.data.release import MANIFEST_NAME
from bioscan_hf.data.schema import METADATA_ZIP_NAME


def _state(folder: Path) -> dict[str, str]:
    """Relative path → sha256 of every file under `folder`."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _release(sample_release: Path, folder: Path) -> Path:
    folder.mkdir()
    for name in (METADATA_ZIP_NAME, MANIFEST_NAME, "BIOSCAN_5M_cropped_256_eval.zip"):
        shutil.copy(sample_release / name, folder / name)
    return folder


def _damage_an_image(zip_path: Path) -> str:
    data = zip_path.read_bytes()
    with zipfile.ZipFile(zip_path) as src:
        members = [(info, src.read(info)) for info in src.infolist()]
    victim = next(info for info, _ in members if "/val/" in info.filename)
    with zipfile.ZipFile(zip_path, "w") as out:
        for info, blob in members:
            out.writestr(info, blob[: len(blob) // 2] if info is victim else blob)
    assert zip_path.read_bytes() != data
    return Path(victim.filename).stem


@pytest.mark.damaged_input
def test_a_folder_of_the_users_is_refused_then_written_beside(
    sample_release: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "mine"
    (out / "data" / "metadata").mkdir(parents=True)
    (out / "README.md").write_text("my own notes")
    (out / "notes.txt").write_text("keep me")
    (out / "data" / "metadata" / "mine.csv").write_text("a,b\n1,2\n")
    before, release_before = _state(out), _state(sample_release)
    args = ["prepare", "--release", str(sample_release), "--out", str(out), "--configs", "metadata"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert (
        f"{out} holds files that bioscan-hf prepare did not write (README.md, data/metadata/mine.csv, notes.txt); "
        "nothing was written" in err
    )
    assert "pass --overwrite" in err and _state(out) == before
    assert main([*args, "--overwrite"]) == 0  # explicit: written beside the user's files
    after = _state(out)
    for kept in ("notes.txt", "data/metadata/mine.csv"):
        assert after[kept] == before[kept]
    assert "my own notes" not in (out / "README.md").read_text()  # same-named: replaced, as --overwrite says
    assert datasets.load_dataset(str(out), "metadata", split="test").num_rows > 0
    assert main(args) == 0 and "reused: metadata" in capsys.readouterr().out  # its own folder from now on
    assert _state(sample_release) == release_before


@pytest.mark.damaged_input
def test_a_failed_rebuild_keeps_the_finished_config(
    sample_release: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    release = _release(sample_release, tmp_path / "rel")
    out = tmp_path / "out"
    args = ["prepare", "--release", str(release), "--out", str(out), "--configs", "cropped_256_eval"]
    assert main(args) == 0
    (out / "data" / "cropped_256_eval" / "mine.txt").write_text("a user's file inside a config folder")
    before = _state(out)
    victim = _damage_an_image(release / "BIOSCAN_5M_cropped_256_eval.zip")
    assert main(args) == 1  # the inputs changed: a rebuild, which the damaged image stops
    err = capsys.readouterr().err
    assert victim in err and "the cropped_256_eval config a previous run finished was kept as it was" in err
    assert _state(out) == before
    assert datasets.load_dataset(str(out), "cropped_256_eval", split="val").num_rows > 0
    assert main([*args, "--on-missing-image", "skip"]) == 0  # a complete replacement swaps in
    after = _state(out)
    assert after["data/cropped_256_eval/mine.txt"] == before["data/cropped_256_eval/mine.txt"]
    assert after != before and not (out / ".staging").exists()
    val = datasets.load_dataset(str(out), "cropped_256_eval", split="val")
    assert victim not in val["processid"]


@pytest.mark.damaged_input
def test_a_failed_run_leaves_nothing_behind(sample_release: Path, tmp_path: Path, capsys) -> None:
    release = _release(sample_release, tmp_path / "rel")
    _damage_an_image(release / "BIOSCAN_5M_cropped_256_eval.zip")
    out = tmp_path / "new"
    assert main(["prepare", "--release", str(release), "--out", str(out), "--configs", "cropped_256_eval"]) == 1
    assert not out.exists()
    (tmp_path / "a-file").write_text("x")
    assert main(["prepare", "--release", str(release), "--out", str(tmp_path / "a-file")]) == 1
    assert "is a file; the output of prepare is a folder" in capsys.readouterr().err
    assert (tmp_path / "a-file").read_text() == "x"
    assert OWNER_FILE not in {p.name for p in tmp_path.iterdir()}
