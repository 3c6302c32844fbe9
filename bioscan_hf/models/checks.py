"""Checks run before a model folder is loaded, so a user gets a message, not a traceback or a silently
meaningless result: a missing local folder, a truncated weights file, a tokenizer that does not fit.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

from huggingface_hub import constants

from bioscan_hf.core.errors import InputError, UserError
from bioscan_hf.core.paths import expand_home

#: What a Hub model id looks like (`name` or `org/name`); anything else is a local path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class ModelFolderError(UserError, OSError):
    """A model folder that cannot be used as it is."""


def model_location(path: str | os.PathLike) -> str:
    """The folder to load (`~` expanded) with its weights checked, or a Hub id left to the Hub.

    A path that does not exist is an error naming it, unless it is shaped like a Hub id (`org/name`) and
    the Hub is reachable, in which case transformers resolves it there.
    """
    text = expand_home(path)  # as typed: `./a/b` is a path, `a/b` may be a Hub id
    folder = Path(text)
    if folder.is_dir():
        check_sizes(folder / "config.json")
        check_sizes(folder / "tokenizer_config.json")
        for weights in sorted(folder.glob("*.safetensors")):
            check_safetensors(weights)
        for weights in sorted(folder.glob("pytorch_model*.bin")):
            check_weights_only(weights)
        return text
    if folder.exists():
        raise ModelFolderError(f"{text}: is a file; a model is a folder holding config.json and its weights")
    missing = f"model folder {text} not found (check the path; `ls {folder.parent}` shows what is there)"
    if _HUB_ID.match(text) and not text.startswith((".", "/")):
        if constants.HF_HUB_OFFLINE:
            raise ModelFolderError(f"{missing}; offline (HF_HUB_OFFLINE=1), so it was not looked up as a Hub id")
        return text
    raise ModelFolderError(missing)


#: Sizes a model's config.json (or a tokenizer's) states, and the largest any real model has: a value that is
#: not a whole number in 1..bound would only surface later as a tensor error, or an allocation of terabytes.
SIZE_BOUNDS = {
    "hidden_size": 1 << 16,
    "intermediate_size": 1 << 18,
    "num_hidden_layers": 1 << 10,
    "num_attention_heads": 1 << 10,
    "vocab_size": 1 << 24,
    "max_position_embeddings": 1 << 20,
    "d_model": 1 << 16,
    "n_layer": 1 << 10,
    "projection_dim": 1 << 16,
    "k_mer": 12,
    "k": 12,
}


def foreign_code(folder: str | os.PathLike) -> list[str]:
    """The `auto_map` entries of a folder's config.json and tokenizer_config.json that name code other than
    the package's own classes (which bioscan-hf loads with its registered classes, never from the folder)."""
    import bioscan_hf.models.auto as families

    ours = {
        f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"
        for family in (families.barcodebert, families.barcodemamba, families.clibd, families.cnn)
        for name in family.__all__
        if isinstance(cls := getattr(family, name), type)
    }
    found = []
    for file in ("config.json", "tokenizer_config.json"):
        try:
            auto_map = json.loads((Path(folder) / file).read_text(encoding="utf-8")).get("auto_map") or {}
        except (OSError, ValueError, AttributeError):
            continue
        for value in auto_map.values() if isinstance(auto_map, dict) else []:
            for entry in value if isinstance(value, list) else [value]:
                if entry and str(entry).split("--")[-1] not in ours:
                    found.append(f"{file}: {entry}")
    return found


def check_sizes(path: Path) -> None:
    """Refuse a config whose sizes (`SIZE_BOUNDS`, at the top level or in a sub-config such as CLIBD's
    towers) are not whole numbers in range, naming the file and the field, before any tensor is made."""
    if not path.is_file():
        return
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelFolderError(f"{path}: not valid JSON ({err}); save or download the model again") from err
    sections = [("", config)] + [(f"{k}.", v) for k, v in config.items() if isinstance(v, dict)]
    for prefix, section in sections:
        for key, bound in SIZE_BOUNDS.items():
            value = section.get(key) if isinstance(section, dict) else None
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= bound:
                raise ModelFolderError(
                    f"{path}: {prefix}{key} = {value!r}: expected a whole number from 1 to {bound:,}; the file is "
                    "damaged or not this model's: save or convert the model again"
                )


def check_safetensors(path: str | os.PathLike) -> None:
    """Refuse a safetensors file whose size disagrees with its header (a cut download or copy)."""
    path = Path(path)
    size = path.stat().st_size
    try:
        with open(path, "rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            if header_size > size:
                raise InputError("header longer than the file")
            header = json.loads(handle.read(header_size))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (struct.error, ValueError, KeyError, TypeError) as err:
        raise ModelFolderError(f"{path}: not a readable safetensors file ({err}); save or download it again") from err
    expected = 8 + header_size + end
    if size != expected:
        raise ModelFolderError(
            f"{path}: {size:,} bytes, but its header describes {expected:,}: the file is truncated or damaged; "
            "save or download the model again"
        )


def check_weights_only(path: str | os.PathLike) -> None:
    """Refuse a pickled weights file (`pytorch_model.bin`) that holds objects other than tensors and plain
    containers: loading it is either refused by torch (whose message suggests `weights_only=False`, advice
    not to follow for a file of unknown origin) or, with that advice, runs whatever the file names."""
    import torch  # here: only a folder with pickled weights needs it

    try:
        foreign = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except (RuntimeError, ValueError, OSError):
        return  # not listable (the legacy format): torch's weights-only loader still refuses objects
    if foreign:
        raise ModelFolderError(
            f"{path}: not a weights-only file: it holds pickled objects besides tensors ({', '.join(foreign[:3])}), "
            "which could run code when loaded, so it is not loaded. Convert the model from a source you trust "
            "(`bioscan-hf convert-barcodebert`, or `save_pretrained` where you trust it: safetensors)"
        )


def check_kmer_tokenizer(config, tokenizer, where: str) -> None:
    """Refuse a k-mer tokenizer whose k, preset or vocabulary differs from the BarcodeBERT config's:
    ids would index the wrong embeddings (an IndexError, or worse, meaningless vectors when they fit)."""
    k = getattr(tokenizer, "k", None)
    mismatches = []
    if k is not None and k != config.k_mer:
        mismatches.append(f"tokenizer k={k}, model k_mer={config.k_mer}")
    if len(tokenizer) != config.vocab_size:
        mismatches.append(f"tokenizer vocabulary {len(tokenizer)}, model vocab_size {config.vocab_size}")
    if mismatches:
        raise ModelFolderError(
            f"{where}: the tokenizer does not belong to this model ({'; '.join(mismatches)}). Save the tokenizer "
            "the model was trained with beside it (`tokenizer.save_pretrained(folder)`)"
        )
