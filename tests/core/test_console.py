"""The output policy (`--quiet`, `--verbose`) and the help formatter."""

from __future__ import annotations

import argparse

import pytest

from bioscan_hf.core import output


@pytest.fixture(autouse=True)
def _default_policy():
    yield
    output.configure_output()


def test_quiet_hides_progress_and_status(capsys: pytest.CaptureFixture) -> None:
    output.configure_output(quiet=True)
    assert output.is_quiet() and output.progress_bar(range(3)).disable
    output.status("working")
    assert capsys.readouterr().out == ""
    output.configure_output()
    assert not output.progress_bar(range(3), disable=False).disable
    output.status("working")
    assert capsys.readouterr().out == "working\n"


def test_quiet_and_verbose_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="--quiet and --verbose exclude each other"):
        output.configure_output(quiet=True, verbose=True)


def test_library_noise_is_hidden_unless_verbose() -> None:
    import datasets
    import transformers

    output.configure_output()
    assert transformers.logging.get_verbosity() == transformers.logging.ERROR
    with output.short_library_bars_hidden():
        assert not datasets.is_progress_bar_enabled()
    assert datasets.is_progress_bar_enabled()
    output.configure_output(verbose=True)
    assert transformers.logging.get_verbosity() == transformers.logging.INFO
    with output.short_library_bars_hidden():
        assert datasets.is_progress_bar_enabled()


def test_help_keeps_examples_and_wraps_prose() -> None:
    parser = argparse.ArgumentParser(
        prog="x",
        description="word " * 40,
        epilog="examples:\n  bioscan-hf demo --out a-very-long-folder-name " + "x" * 80,
        formatter_class=output.HelpFormatter,
    )
    text = parser.format_help()
    assert "  bioscan-hf demo --out a-very-long-folder-name " + "x" * 80 in text
    assert max(len(line) for line in text.splitlines() if line.startswith("word")) < 100
