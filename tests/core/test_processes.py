"""Which share of a run a process does: one process unless a launcher said otherwise."""

from __future__ import annotations

import pytest

from bioscan_hf.core.processes import WORLD_SIZE_VARIABLES, OneProcess, launched_processes, process_state


@pytest.fixture
def no_launcher(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in WORLD_SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_run_directly_is_one_process(no_launcher: pytest.MonkeyPatch) -> None:
    assert launched_processes() == 1
    state = process_state()
    assert isinstance(state, OneProcess)
    assert (state.num_processes, state.process_index, state.is_main_process) == (1, 0, True)
    with state.main_process_first():
        state.wait_for_everyone()


@pytest.mark.parametrize("name", WORLD_SIZE_VARIABLES)
def test_launcher_variables_are_read(no_launcher: pytest.MonkeyPatch, name: str) -> None:
    no_launcher.setenv(name, "4")
    assert launched_processes() == 4
    no_launcher.setenv(name, "1")  # `accelerate launch --num_processes 1`: still one process, no torch needed
    assert isinstance(process_state(), OneProcess)
    no_launcher.setenv(name, "")
    assert launched_processes() == 1
