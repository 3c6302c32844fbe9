"""The output policy (`--quiet`, `--verbose`) and the help formatter."""

from __future__ import annotations

import argparse

import pytest

from bioscan_hf.core import console


@pytest.fixture(autouse=True)
def _default_policy():
    yield
    console.configure_output()


def test_quiet_hides_progress_and_status(capsys: pytest.CaptureFixture) -> None:
    console.configure_output(quiet=True)
    assert console.is_quiet() and console.progress_bar(range(3)).disable
    console.status("working")
    assert capsys.readouterr().out == ""
    console.configure_output()
    assert not console.progress_bar(range(3), disable=False).disable
    console.status("working")
    assert capsys.readouterr().out == "working\n"


def test_quiet_and_verbose_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="--quiet and --verbose exclude each other"):
        console.configure_output(quiet=True, verbose=True)


def test_library_noise_is_hidden_unless_verbose() -> None:
    import datasets
    import transformers

    console.configure_output()
    assert transformers.logging.get_verbosity() == transformers.logging.ERROR
    with console.short_library_bars_hidden():
        assert not datasets.is_progress_bar_enabled()
    assert datasets.is_progress_bar_enabled()
    console.configure_output(verbose=True)
    assert transformers.logging.get_verbosity() == transformers.logging.INFO
    with console.short_library_bars_hidden():
        assert datasets.is_progress_bar_enabled()


def test_help_keeps_examples_and_wraps_prose() -> None:
    parser = argparse.ArgumentParser(
        prog="x",
        description="word " * 40,
        epilog="examples:\n  bioscan-hf demo --out a-very-long-folder-name " + "x" * 80,
        formatter_class=console.HelpFormatter,
    )
    text = parser.format_help()
    assert "  bioscan-hf demo --out a-very-long-folder-name " + "x" * 80 in text
    assert max(len(line) for line in text.splitlines() if line.startswith("word")) < 100
