"""Release → builder → Parquet folder → `load_dataset`, and the bad inputs around it."""

from __future__ import annotations

import random
import re
import shutil
import zipfile
from pathlib import Path

import datasets
import pytest

from bioscan_hf.cli import main
from bioscan_hf.data.builder import Bioscan5M
from bioscan_hf.data.metadata import read_metadata
from bioscan_hf.data.prepared import COMPLETE_MARKER
from bioscan_hf.data.publish import PrepareError, plan_configs, prepare
from bioscan_hf.data.release import CONFIGS, MANIFEST_NAME, MissingImageError, available_configs, find_metadata
from bioscan_hf.data.schema import METADATA_CSV_PATH, METADATA_ZIP_NAME, SPLITS


def test_every_config_is_available_from_the_sample(sample_release: Path) -> None:
    assert available_configs(sample_release) == dict.fromkeys(CONFIGS, "")


def test_load_dataset_opens_a_prepared_split(prepared: Path, sample_release: Path) -> None:
    assert datasets.get_dataset_config_names(str(prepared)) == ["metadata", "cropped_256", "cropped_256_eval"]
    assert datasets.get_dataset_split_names(str(prepared), "cropped_256") == list(SPLITS)
    test = datasets.load_dataset(str(prepared), "cropped_256", split="test")
    expected = read_metadata(find_metadata(sample_release), "test")
    assert test["processid"] == expected.column("processid").to_pylist()
    species = test.features["species"]
    assert isinstance(species, datasets.ClassLabel)
    decoded = [species.int2str(i) if i >= 0 else None for i in test["species"]]
    assert decoded == expected.column("species").to_pylist()
    image = test[0]["image"]
    assert min(image.size) == 256
    assert test.features["chunk"] == datasets.Value("string")


def test_label_indices_agree_across_splits_and_configs(prepared: Path) -> None:
    meta = datasets.load_dataset(str(prepared), "metadata")
    names = meta["train"].features["dna_bin"].names
    assert names == sorted(names)
    assert all(meta[s].features["dna_bin"].names == names for s in meta)
    group = datasets.load_dataset(str(prepared), "cropped_256_eval")
    assert set(group) == {"val", "test", "key_unseen", "val_unseen", "test_unseen", "other_heldout"}
    assert group["test"].features["species"].names == meta["train"].features["species"].names


def test_streaming_works_offline(prepared: Path) -> None:
    stream = datasets.load_dataset(str(prepared), "cropped_256", split="val_unseen", streaming=True)
    first = next(iter(stream))
    assert first["split"] == "val_unseen" and first["image"].size[1] == 256


def test_wrong_split_or_config_names_the_valid_ones(prepared: Path, sample_release: Path) -> None:
    with pytest.raises(ValueError, match="valid configs: metadata, cropped_256"):
        plan_configs(sample_release, ["croped_256"])
    with pytest.raises(ValueError, match="test"):
        datasets.load_dataset(str(prepared), "metadata", split="tset")


def test_builder_runs_directly(sample_release: Path, tmp_path: Path) -> None:
    builder = Bioscan5M(config_name="metadata", data_dir=str(sample_release), cache_dir=str(tmp_path))
    builder.download_and_prepare()
    assert builder.as_dataset(split="train").num_rows == read_metadata(find_metadata(sample_release), "train").num_rows


def _copy_release(sample_release: Path, dest: Path, keep: tuple[str, ...]) -> Path:
    dest.mkdir()
    for path in sample_release.iterdir():
        if path.name in (METADATA_ZIP_NAME, MANIFEST_NAME) or any(k in path.name for k in keep):
            shutil.copy(path, dest / path.name)
    return dest


def test_configs_follow_the_files_present(sample_release: Path, tmp_path: Path) -> None:
    release = _copy_release(sample_release, tmp_path / "rel", keep=("cropped_256_eval",))
    chosen, skipped = plan_configs(release, None)
    assert chosen == ["metadata", "cropped_256_eval"]
    assert "no cropped_256 images for split(s) pretrain, train" in skipped["cropped_256"]
    with pytest.raises(PrepareError, match="original_full: no original_full images"):
        plan_configs(release, ["original_full"])


def test_extracted_release_and_csv_alone(sample_release: Path, tmp_path: Path) -> None:
    release = tmp_path / "extracted"
    release.mkdir()
    with zipfile.ZipFile(sample_release / METADATA_ZIP_NAME) as archive:
        archive.extractall(release)
    for zip_path in sample_release.glob("BIOSCAN_5M_original_256_*.zip"):
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(release)
    assert find_metadata(release) == release / METADATA_CSV_PATH
    out = tmp_path / "out"
    prepare(release, out, configs=["original_256"])
    val = datasets.load_dataset(str(out), "original_256", split="val")
    assert val.num_rows > 0 and val[0]["image"].size[1] == 256


def _drop_member(zip_path: Path, dest: Path, victim_split: str) -> str:
    """Copy a zip without its first image of `victim_split`; returns the dropped processid."""
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(dest, "w") as out:
        dropped = None
        for info in src.infolist():
            if dropped is None and f"/{victim_split}/" in info.filename:
                dropped = Path(info.filename).stem
                continue
            out.writestr(info, src.read(info))
    return dropped


@pytest.mark.damaged_input
def test_missing_image_is_an_error_or_reported_skip(sample_release: Path, tmp_path: Path) -> None:
    release = _copy_release(sample_release, tmp_path / "rel", keep=("cropped_256_pretrain", "cropped_256_train"))
    dropped = _drop_member(
        sample_release / "BIOSCAN_5M_cropped_256_eval.zip", release / "BIOSCAN_5M_cropped_256_eval.zip", "test"
    )
    with pytest.raises(MissingImageError, match=f"record {dropped}: image .*/test/{dropped}.jpg not found"):
        prepare(release, tmp_path / "out", configs=["cropped_256_eval"])
    assert not (tmp_path / "out" / "README.md").exists()  # nothing that loads as if complete
    summary = prepare(release, tmp_path / "out", configs=["cropped_256_eval"], on_missing_image="skip")
    skipped = summary["skipped_images"]["cropped_256_eval"]
    assert len(skipped) == 1 and skipped[0].startswith(dropped)
    test = datasets.load_dataset(str(tmp_path / "out"), "cropped_256_eval", split="test")
    assert dropped not in test["processid"]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "`cropped_256_eval`: 1 record(s) left out" in card and dropped in card
    assert "holds fewer records than the metadata (test" in "".join(summary["warnings"])


@pytest.mark.damaged_input
def test_corrupt_image_names_the_record(sample_release: Path, tmp_path: Path) -> None:
    release = _copy_release(sample_release, tmp_path / "rel", keep=())
    with (
        zipfile.ZipFile(sample_release / "BIOSCAN_5M_cropped_256_eval.zip") as src,
        zipfile.ZipFile(release / "BIOSCAN_5M_cropped_256_eval.zip", "w") as out,
    ):
        victim = None
        for info in src.infolist():
            data = src.read(info)
            if victim is None and "/val/" in info.filename:
                victim, data = Path(info.filename).stem, b"not a jpeg at all"
            out.writestr(info, data)
    with pytest.raises(MissingImageError, match=f"record {victim}: image .* is corrupt"):
        prepare(release, tmp_path / "out", configs=["cropped_256_eval"])


def test_interrupted_prepare_resumes_and_never_looks_complete(
    sample_release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    prepare(sample_release, out, configs=["metadata"])
    calls = []

    def boom(*args, **kwargs):
        calls.append(args)
        raise KeyboardInterrupt

    monkeypatch.setattr(Bioscan5M, "download_and_prepare", boom)
    with pytest.raises(KeyboardInterrupt):
        prepare(sample_release, out, configs=["metadata", "cropped_256_train"])
    assert len(calls) == 1  # metadata was finished and reused; only the new config was attempted
    assert not (out / "data" / "cropped_256_train").exists()
    assert datasets.get_dataset_config_names(str(out)) == ["metadata"]
    monkeypatch.undo()
    summary = prepare(sample_release, out, configs=["metadata", "cropped_256_train"])
    assert summary["reused"] == ["metadata"] and summary["built"] == ["cropped_256_train"]
    assert (out / "data" / "cropped_256_train" / COMPLETE_MARKER).exists()
    assert not (out / ".staging").exists()


def test_shards_are_bounded(sample_release: Path, tmp_path: Path) -> None:
    prepare(sample_release, tmp_path / "out", configs=["cropped_256_pretrain"], max_shard_size="200KB")
    shards = sorted((tmp_path / "out" / "data" / "cropped_256_pretrain").glob("pretrain-*.parquet"))
    assert len(shards) > 1
    assert shards[0].name == f"pretrain-00000-of-{len(shards):05d}.parquet"


def test_parallel_prepare_gives_the_same_rows(
    sample_release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bioscan_hf.data.builder.RECORDS_PER_SHARD", 40)
    prepare(sample_release, tmp_path / "out", configs=["metadata"], num_proc=2)
    pretrain = datasets.load_dataset(str(tmp_path / "out"), "metadata", split="pretrain")
    expected = read_metadata(find_metadata(sample_release), "pretrain").column("processid").to_pylist()
    assert pretrain["processid"] == expected


@pytest.mark.damaged_input
def test_chunk_rule_cross_check(sample_release: Path) -> None:
    from bioscan_hf.data.release import ImageStore, find_images
    from bioscan_hf.data.schema import expected_chunk

    store = ImageStore(find_images(sample_release)["cropped_256"])
    pid = "GMMVA27218-22"
    rule = expected_chunk(pid, "pretrain")
    assert len(rule) == 2 and expected_chunk(pid, "train") == rule[0] and expected_chunk(pid, "test") == ""
    assert store.member_path(pid, "pretrain", None).endswith(f"/pretrain/{rule}/{pid}.jpg")
    assert store.member_path(pid, "test", None) == f"bioscan5m/images/cropped_256/test/{pid}.jpg"
    wrong = "0f" if rule != "0f" else "1f"
    with pytest.raises(MissingImageError, match=f"record {pid} .*chunk '{wrong}' disagrees"):
        store.member_path(pid, "pretrain", wrong)


def test_split_groups_reuse_the_whole_package(prepared: Path) -> None:
    # the `prepared` fixture built cropped_256 and cropped_256_eval: the group points at the package's shards
    assert not list((prepared / "data" / "cropped_256_eval").glob("*.parquet"))
    assert "path: data/cropped_256/test_unseen-*.parquet" in (prepared / "README.md").read_text()
    group = datasets.load_dataset(str(prepared), "cropped_256_eval", split="test_unseen")
    whole = datasets.load_dataset(str(prepared), "cropped_256", split="test_unseen")
    assert group["processid"] == whole["processid"]


# --- damaged image packages: a damaged zip stops the run (never a mass skip); a damaged image stops it or, with
# --on-missing-image skip, is left out and listed; the output holds exactly the records it does not list ---------


def _damage_first_image(src_zip: Path, dest_zip: Path, split: str, damage) -> str:
    with zipfile.ZipFile(src_zip) as src, zipfile.ZipFile(dest_zip, "w") as out:
        victim = None
        for info in src.infolist():
            data = src.read(info)
            if victim is None and f"/{split}/" in info.filename:
                victim, data = Path(info.filename).stem, damage(data)
            out.writestr(info, data)
    return victim


DAMAGED_IMAGES = {
    "jpeg cut in half": lambda data: data[: len(data) // 2],
    "jpeg without its last bytes": lambda data: data[:-12],
    "random bytes": lambda data: bytes(random.Random(0).randrange(256) for _ in range(len(data))),
    "empty file": lambda data: b"",
}


@pytest.mark.damaged_input
@pytest.mark.parametrize("case", list(DAMAGED_IMAGES))
def test_damaged_image_stops_or_is_listed(
    sample_release: Path, tmp_path: Path, capsys: pytest.CaptureFixture, case: str
) -> None:
    from bioscan_hf.cli import main

    release = _copy_release(sample_release, tmp_path / "rel", keep=("cropped_256_pretrain", "cropped_256_train"))
    victim = _damage_first_image(
        sample_release / "BIOSCAN_5M_cropped_256_eval.zip",
        release / "BIOSCAN_5M_cropped_256_eval.zip",
        "val",
        DAMAGED_IMAGES[case],
    )
    args = ["prepare", "--release", str(release), "--out", str(tmp_path / "out"), "--configs", "cropped_256_eval"]
    assert main(args) == 1
    assert re.search(
        rf"record {victim}: image \S+/val/{victim}.jpg (is corrupt|in .* is corrupt)", capsys.readouterr().err
    )
    assert not (tmp_path / "out" / "README.md").exists()
    assert main([*args, "--on-missing-image", "skip"]) == 0
    output = capsys.readouterr()
    assert "cropped_256_eval: 1 record(s) skipped for missing/corrupt images" in output.out
    assert "WARNING: cropped_256_eval holds fewer records than the metadata (val" in output.err
    val = datasets.load_dataset(str(tmp_path / "out"), "cropped_256_eval", split="val")
    expected = read_metadata(find_metadata(release), "val").column("processid").to_pylist()
    assert val["processid"] == [pid for pid in expected if pid != victim]  # exactly the records not listed
    assert all(image.size[1] == 256 for image in val["image"])


@pytest.mark.damaged_input
def test_a_truncated_zip_is_an_error_even_when_skipping(
    sample_release: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from bioscan_hf.cli import main

    release = _copy_release(sample_release, tmp_path / "rel", keep=("cropped_256",))
    damaged = release / "BIOSCAN_5M_cropped_256_eval.zip"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    args = ["prepare", "--release", str(release), "--out", str(tmp_path / "out"), "--configs", "cropped_256"]
    assert main([*args, "--on-missing-image", "skip"]) == 1
    err = capsys.readouterr().err
    assert f"{damaged}: not a readable zip" in err and "download it again" in err and "not skipped" in err
    assert not (tmp_path / "out" / "data" / "cropped_256" / COMPLETE_MARKER).exists()
    assert not (tmp_path / "out" / "README.md").exists()


@pytest.mark.damaged_input
def test_a_rerun_never_reuses_a_config_built_from_other_inputs(
    sample_release: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from bioscan_hf.cli import main

    release = _copy_release(sample_release, tmp_path / "rel", keep=("cropped_256_eval",))
    victim = _drop_member(
        sample_release / "BIOSCAN_5M_cropped_256_eval.zip", release / "BIOSCAN_5M_cropped_256_eval.zip", "test"
    )
    args = ["prepare", "--release", str(release), "--out", str(tmp_path / "out"), "--configs", "cropped_256_eval"]
    assert main([*args, "--on-missing-image", "skip"]) == 0
    assert main([*args, "--on-missing-image", "skip"]) == 0
    assert "reused: cropped_256_eval" in capsys.readouterr().out
    assert main(args) == 1  # other options: the config built with skips is not reused; the missing image stops it
    err = capsys.readouterr().err
    assert victim in err and "the cropped_256_eval config a previous run finished was kept as it was" in err
    assert "left out" in (tmp_path / "out" / "README.md").read_text()  # kept until a complete one replaces it
    shutil.copy(sample_release / "BIOSCAN_5M_cropped_256_eval.zip", release / "BIOSCAN_5M_cropped_256_eval.zip")
    assert main(args) == 0  # a repaired release: rebuilt, complete
    test = datasets.load_dataset(str(tmp_path / "out"), "cropped_256_eval", split="test")
    assert victim in test["processid"]
    assert "left out" not in (tmp_path / "out" / "README.md").read_text()


def test_paths_accept_a_tilde(sample_release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    shutil.copytree(
        sample_release, home / "bioscan5m", ignore=shutil.ignore_patterns("*original*", "BIOSCAN_5M_cropped.*")
    )
    monkeypatch.setenv("HOME", str(home))
    assert find_metadata("~/bioscan5m") == home / "bioscan5m" / METADATA_ZIP_NAME
    assert read_metadata("~/bioscan5m/" + METADATA_ZIP_NAME, "test").num_rows > 0
    builder = Bioscan5M(config_name="metadata", data_dir="~/bioscan5m", cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    assert builder.as_dataset(split="val").num_rows > 0
    prepare("~/bioscan5m", "~/hub", configs=["metadata"])
    assert (home / "hub" / "README.md").exists()


@pytest.mark.damaged_input
def test_a_header_only_metadata_publishes_nothing(tmp_path: Path) -> None:
    from bioscan_hf.data.release import write_metadata_zip

    release = tmp_path / "release"
    release.mkdir()
    write_metadata_zip(release, [], origin="a test: the header alone")
    before = {p.name: p.read_bytes() for p in release.iterdir()}
    with pytest.raises(PrepareError, match="no record \\(a header alone\\?\\); nothing was written"):
        prepare(release, tmp_path / "out", configs=["metadata"])
    assert not (tmp_path / "out").exists()
    assert {p.name: p.read_bytes() for p in release.iterdir()} == before


def test_prepare_prints_a_line_per_config(sample_release: Path, tmp_path: Path, capfd) -> None:
    """A small release is prepared in seconds: a status line per config and the result, not datasets' bar
    per split (8 per config); `--quiet` leaves the result alone."""
    args = ["prepare", "--release", str(sample_release), "--configs", "metadata,cropped_256,cropped_256_eval"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    out, err = capfd.readouterr()
    assert out.splitlines()[:2] == ["preparing metadata (300 records)", "preparing cropped_256 (300 records)"]
    assert out.count("\n") + err.count("\n") <= 4 and "Generating" not in err, out + err
    assert main([*args, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    out, err = capfd.readouterr()
    assert out.count("\n") == 2 and not err and out.startswith("built: metadata, cropped_256"), out + err
