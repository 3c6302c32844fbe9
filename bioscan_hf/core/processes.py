"""Which share of a run this process does: accelerate's `PartialState` where the command was started across
processes (`accelerate launch`, torchrun, MPI), and a one-process state otherwise, which imports neither torch
nor accelerate (2–3 s of a short barcode run that needs no model)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: The variables by which a launcher tells each process how many there are (those accelerate reads).
WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


class OneProcess:
    """The state of a run in a single process: PartialState's attributes a run reads, trivially."""

    num_processes = 1
    process_index = 0
    is_main_process = True

    @contextmanager
    def main_process_first(self) -> Iterator[None]:
        yield

    def wait_for_everyone(self) -> None:
        """Nothing to wait for."""


def launched_processes() -> int:
    """How many processes the launcher started (1 where the command was run directly)."""
    for name in WORLD_SIZE_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return max(int(value), 1)
    return 1


def process_state() -> Any:
    """accelerate's `PartialState` (gloo on the CPU without GPUs) where several processes were launched, or a
    `OneProcess`."""
    if launched_processes() == 1:
        return OneProcess()
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())
