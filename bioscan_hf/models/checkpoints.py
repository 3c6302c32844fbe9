"""Reading the training checkpoints that published models ship (`.pth`, `.pt`, Lightning `.ckpt`) without
running code from them.

`torch.load(weights_only=True)` refuses any pickled object that is not a tensor or a plain container. The
published files hold more beside their weights: BarcodeBERT's and BarcodeMAE's an `argparse.Namespace` of
training options, Lightning's `.ckpt` the Hydra/OmegaConf configuration under `hyper_parameters`,
optimiser and scheduler state. `load_torch_file` lists those classes first
(`torch.serialization.get_unsafe_globals_in_checkpoint`) and lets each one through as an inert stand-in
(`Opaque`) that records what the file said and runs nothing: the weights load, and nothing in the file
executes. `argparse.Namespace` is let through as itself (a bag of attributes), so the options can be read.
"""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path

import torch

from bioscan_hf.core.errors import MissingFileError, UserError


class ConversionError(UserError, ValueError):
    """A checkpoint whose keys, shapes or configuration do not fit the model it is converted into."""


class Opaque:
    """A stand-in for a class named in a checkpoint that is not let through: it keeps the constructor
    arguments and pickled state it was given and does nothing else."""

    qualified_name = "?"

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<{self.qualified_name}, not loaded>"


def _stand_in(qualified_name: str) -> type:
    module, _, name = qualified_name.rpartition(".")
    return type(name or qualified_name, (Opaque,), {"__module__": module, "qualified_name": qualified_name})


def load_torch_file(path: str | os.PathLike) -> object:
    """The object pickled in a torch checkpoint, loaded with `weights_only=True`; classes other than
    tensors, containers and `argparse.Namespace` come back as `Opaque` stand-ins (see the module doc)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such checkpoint file")
    try:
        foreign = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except (RuntimeError, ValueError, OSError):
        foreign = []  # the legacy (non-zip) format cannot be listed: load what weights_only allows
    allowed: list = [argparse.Namespace]
    allowed += [(_stand_in(name), name) for name in foreign if name != "argparse.Namespace"]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # torch's text advises weights_only=False: not for this file
        raise ConversionError(
            f"{path}: not a weights-only checkpoint: it holds pickled objects that could run code when loaded, so "
            "it is not loaded. Use a checkpoint from a source you trust, saved as a state dict of tensors"
        ) from err
    except Exception as err:  # torch raises RuntimeError or EOFError on damaged files
        raise ConversionError(
            f"{path}: not a readable torch checkpoint ({type(err).__name__}: {err}); download it again"
        ) from err


def state_dict_of(payload: object, where: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint: the payload itself, or the dict under `state_dict`, `model` or
    `model_state_dict` (Lightning, BarcodeBERT's and BarcodeMAE's training code, common scripts)."""
    if isinstance(payload, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(payload.get(key), dict):
                payload = payload[key]
                break
    if not isinstance(payload, dict):
        raise ConversionError(f"{where}: expected a state dict, found a {type(payload).__name__}")
    return {key: value for key, value in payload.items() if torch.is_tensor(value)}


def strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The state with a wrapper's prefix (`module.` of DDP, `model.` of a LightningModule) removed from the
    keys that carry it."""
    return {key.removeprefix(prefix): value for key, value in state.items()}


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a training checkpoint file (`state_dict_of`), with DDP's `module.` prefixes removed."""
    return strip_prefix(state_dict_of(load_torch_file(path), path), "module.")
