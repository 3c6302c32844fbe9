"""The `bioscan-hf` command: help, the main job, and errors that say what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from bioscan_hf.cli import build_parser, main


def test_help_lists_every_command(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    for command in ("demo", "sample", "prepare", "push", "download", "verify", "import-bold"):
        assert command in text


def test_every_option_explains_itself() -> None:
    import argparse

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    unexplained = [
        f"{name} {action.dest}"
        for name, command in sub.choices.items()
        for action in command._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help
    ]
    assert not unexplained, f"options without --help text: {unexplained}"


def test_console_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bioscan_hf.cli", "prepare", "--help"], capture_output=True, text=True, check=True
    )
    assert "--num-proc" in result.stdout and "--on-missing-image" in result.stdout


def test_sample_then_prepare(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["sample", "--out", str(tmp_path / "rel"), "--scale", "80", "--no-images"]) == 0
    assert main(["prepare", "--release", str(tmp_path / "rel"), "--out", str(tmp_path / "hub")]) == 0
    out = capsys.readouterr().out
    assert "skipped cropped_256: no cropped_256 images" in out and "built: metadata" in out
    assert datasets.load_dataset(str(tmp_path / "hub"), "metadata", split="train").num_rows > 0


def test_errors_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["prepare", "--release", str(tmp_path), "--out", str(tmp_path / "o"), "--configs", "metadata"]) == 1
    err = capsys.readouterr().err
    assert "no BIOSCAN-5M metadata" in err and "bioscan-hf sample" in err and "Traceback" not in err


def _failing(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """`bioscan-hf sample` raising `error` when it runs."""
    import dataclasses

    from bioscan_hf.commands import data

    def run(options) -> None:
        raise error

    monkeypatch.setitem(data.COMMANDS, "sample", dataclasses.replace(data.COMMANDS["sample"], run=run))


def test_our_refusals_are_one_line_and_bugs_keep_their_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from bioscan_hf.core.errors import InputError

    args = ["sample", "--out", str(tmp_path / "r")]
    _failing(monkeypatch, InputError("plate.fasta line 3 (q1): not DNA; fix the record or pass --skip-bad"))
    assert main(args) == 1
    assert capsys.readouterr().err == (
        "bioscan-hf sample: error: plate.fasta line 3 (q1): not DNA; fix the record or pass --skip-bad\n"
    )
    assert main([*args, "--verbose"]) == 1  # under --verbose: the traceback too, then the same line
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("fix the record or pass --skip-bad\n")
    _failing(monkeypatch, FileNotFoundError(2, "No such file or directory", str(tmp_path / "gone.tsv")))
    assert main(args) == 1 and "gone.tsv" in capsys.readouterr().err  # a file the system refused: one line
    _failing(monkeypatch, ValueError("an internal slip"))
    with pytest.raises(ValueError, match="an internal slip"):  # a bug: not swallowed into one line
        main(args)
    _failing(monkeypatch, KeyboardInterrupt())
    assert main(args) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and "run the same command again to resume" in err


@pytest.mark.damaged_input
@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "--out", "{file}/release"],
        ["identify", "{fasta}", "--reference", "{fasta}", "--out", "{file}/calls.tsv"],
        ["audit", "{fasta}", "--out", "{file}/suspects.tsv"],
        ["embed", "{fasta}", "--model", "kmer4", "--out", "{file}/e.parquet"],
        ["calibrate", "{fasta}", "--out", "{file}/c.skops"],
    ],
)
def test_an_output_under_a_file_is_refused_in_words(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    fasta = tmp_path / "r.fasta"
    fasta.write_text(">R1|Aedes aegypti|COI-5P|BOLD:AAA0001\n" + "ACGT" * 100 + "\n")
    (tmp_path / "notes.txt").write_text("mine")
    args = [a.format(file=tmp_path / "notes.txt", fasta=fasta) for a in argv]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'notes.txt'} is a file, not a folder; give an output path under a folder" in err
    assert "Errno" not in err and (tmp_path / "notes.txt").read_text() == "mine"
