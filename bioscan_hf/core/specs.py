"""The `--model` spec, parsed once: every command and module that takes a model reads it through
`ModelSpec` (its kind, location, display name, local config and fingerprint); the embedding layer's
registry (`bioscan_hf.embedding.registry`) turns a spec into an encoder.

Forms: a folder saved by this toolkit or by transformers; `hf:PATH_OR_ID` (any transformers model);
`timm:NAME[:WEIGHTS_FILE]`; `kmerK` (k-mer profiles, e.g. `kmer6`); `align` (alignment, a scorer with no
embeddings); `PREFIX:REST` for any other registered prefix.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from bioscan_hf.core.errors import InputError
from bioscan_hf.core.paths import hash_file, user_path

#: What `--model` accepts, for every command's help.
SPEC_HELP = (
    "the encoder: a BarcodeBERT or CLIBD folder, hf:PATH_OR_ID (any transformers DNA or vision model), "
    "timm:NAME[:WEIGHTS_FILE], kmerK (e.g. kmer6); `bioscan-hf models` lists every family"
)
_PREFIXED = re.compile(r"^([a-z][a-z0-9_]*):(.*)$", re.DOTALL)
_KMER = re.compile(r"^kmer(\d+)$")
#: Files of a model folder that do not change its embeddings.
_NOT_WEIGHTS = {"README.md", ".gitattributes"}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed `--model` spec. `prefix`: "hf", "timm", "kmer", "align" or "" (a folder); `location`: the
    folder or Hub id (hf, folder), the timm model name, or "" ; `argument`: the timm weights file, or k."""

    text: str
    prefix: str
    location: str
    argument: str = ""

    @classmethod
    def parse(cls, spec: str | os.PathLike | ModelSpec) -> ModelSpec:
        """Read a spec string (or path); a `ModelSpec` is returned as it is."""
        if isinstance(spec, ModelSpec):
            return spec
        text = os.fspath(spec)
        if text == "align":
            return cls(text, "align", "")
        if match := _KMER.match(text):
            return cls(text, "kmer", "", match.group(1))
        match = _PREFIXED.match(text)
        if match and not Path(text).exists():
            prefix, rest = match.groups()
            if prefix == "timm":
                name, _, weights = rest.partition(":")
                return cls(text, prefix, name, weights)
            return cls(text, prefix, rest)
        return cls(text, "", text)

    def __str__(self) -> str:
        return self.text

    @property
    def local_path(self) -> Path | None:
        """The folder (folder, hf: a local folder) or weights file (timm:) on this machine, if it exists."""
        candidate = self.argument if self.prefix == "timm" else self.location if self.prefix in ("", "hf") else ""
        path = user_path(candidate) if candidate else None
        return path if path is not None and path.exists() else None

    @property
    def folder(self) -> Path | None:
        """The local model folder the spec names, if any."""
        path = self.local_path
        return path if path is not None and path.is_dir() and self.prefix in ("", "hf") else None

    def config(self) -> dict | None:
        """The folder's config.json as a dict, or None (no local folder, or no config in it)."""
        folder = self.folder
        file = folder / "config.json" if folder is not None else None
        if file is None or not file.is_file():
            return None
        try:
            return json.loads(file.read_text())
        except ValueError as err:
            raise InputError(
                f"{file}: not valid JSON ({err}): a damaged or truncated config.json; copy, download or convert the "
                "model again"
            ) from None

    @property
    def display_name(self) -> str:
        """The spec as a table shows it: a folder by its name (a `final` folder by its parent's), with its
        hf:/timm: prefix; kmerK and Hub ids as they are."""
        if self.prefix == "timm":
            return f"timm:{self.location}"
        if self.prefix not in ("", "hf"):
            return self.text
        path = Path(self.location)
        if len(path.parts) <= 1:
            return self.text
        name = path.parent.name if path.name == "final" else path.name
        return f"hf:{name}" if self.prefix == "hf" else name

    def with_location(self, location: str | os.PathLike) -> ModelSpec:
        """The same kind of spec at another folder (an index's copy of its model)."""
        prefix = f"{self.prefix}:" if self.prefix else ""
        return ModelSpec.parse(prefix + os.fspath(location))

    def fingerprint(self, pooling: str | None = None) -> str:
        """A short hash identifying what embeds: the files of a model folder (or a timm weights file), else
        the spec itself (`kmer6`, a Hub id), and the pooling."""
        digest = hashlib.sha256(f"pooling={pooling or ''}\n".encode())
        path = self.local_path
        if path is not None and path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.name not in _NOT_WEIGHTS)
        elif path is not None and path.is_file():
            files = [path]
        else:
            files = []
        if not files:
            digest.update(self.text.encode())
        for file in files:
            digest.update(file.name.encode())
            hash_file(digest, file)
        return digest.hexdigest()[:16]
