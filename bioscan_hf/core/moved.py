"""Old import paths kept for one release: a module at the old path calls `moved`, which warns
(`DeprecationWarning` naming the new path) and gives it the new module's names."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

#: The version that removes the old paths (CHANGELOG.md).
REMOVED_IN = "0.3.0"


def moved(namespace: dict[str, Any], new: str) -> None:
    """Fill the old module's `namespace` with the public names of module `new`, after a warning."""
    old = namespace["__name__"]
    warnings.warn(
        f"{old} has moved to {new}: import it from there ({old} is removed in bioscan-hf {REMOVED_IN})",
        DeprecationWarning,
        stacklevel=3,
    )
    module = importlib.import_module(new)
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    namespace.update({name: getattr(module, name) for name in names})


def moved_names(old: str, new: str, names: tuple[str, ...]) -> Any:
    """A module `__getattr__` for `names` that moved from module `old` to module `new`: each is given
    from `new`, after a warning naming it (kept for one release, as `moved`)."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(
            f"{old}.{name} has moved to {new}: import it from there (the old name is removed in bioscan-hf "
            f"{REMOVED_IN})",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(new), name)

    return __getattr__
