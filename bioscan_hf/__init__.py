"""bioscan-hf: the Hugging Face-native toolkit for BIOSCAN-5M.

The package's model families (BarcodeBERT, BarcodeMamba, CLIBD, CNN) register with transformers' Auto
classes when the Auto classes are first asked for: after `import bioscan_hf`, the first import of
`transformers.models.auto` (what `from transformers import AutoModel` does) also imports
`bioscan_hf.models`, which registers them. Until then nothing imports torch or a model, so `bioscan-hf
--help`, the data layer and the argument parser (transformers' `HfArgumentParser`) stay fast: transformers'
own `_LazyModule` defers its model folders the same way, and its Auto classes offer no lazy registration by
name for classes outside transformers.

Modules that moved keep their old import paths for one release as modules of their own that warn
(`DeprecationWarning` naming the new path; see CHANGELOG.md for the version that removes them).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys

#: The module whose first import means "the Auto classes are wanted".
_AUTO = "transformers.models.auto"


def _register_models() -> None:
    import bioscan_hf.models  # noqa: F401  (registers on import)


class _RegisterWithAutoClasses(importlib.abc.MetaPathFinder):
    """Runs `_register_models` right after `transformers.models.auto` finishes importing, once."""

    def find_spec(self, fullname: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        if fullname != _AUTO:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def exec_then_register(module) -> None:
                exec_module(module)
                _register_models()

            spec.loader.exec_module = exec_then_register
        return spec


if _AUTO in sys.modules:
    _register_models()
elif not any(isinstance(finder, _RegisterWithAutoClasses) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWithAutoClasses())
