"""bioscan-hf: the Hugging Face-native toolkit for BIOSCAN-5M.

Importing the package registers its model classes (BarcodeBERT, CLIBD) with transformers' Auto classes
as soon as transformers is imported, so `AutoConfig.for_model("barcodebert")` and
`AutoModel.from_pretrained(converted_folder)` work after `import bioscan_hf`. The registration waits for
transformers (a post-import hook) so that `bioscan-hf --help` and the data layer stay fast: registering at
import time would import transformers and torch (seconds) for every command and every `import bioscan_hf`,
and transformers' Auto classes offer no lazy registration by name for classes outside transformers.

Modules that moved keep their old import paths (`bioscan_hf.identify` → `bioscan_hf.search`,
`bioscan_hf.paths` → `bioscan_hf.core.paths`, …): `_OLD_PATHS` maps them, so code and saved folders
written for an earlier layout keep importing.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

#: Old module path → where the module lives now (a prefix maps its submodules too).
_OLD_PATHS = {
    "bioscan_hf.identify": "bioscan_hf.search",
    "bioscan_hf.paths": "bioscan_hf.core.paths",
    "bioscan_hf.formatting": "bioscan_hf.core.formatting",
    "bioscan_hf.data.barcodes": "bioscan_hf.core.barcodes",
    "bioscan_hf.cards": "bioscan_hf.hub.cards",
    "bioscan_hf.evaluation.dna": "bioscan_hf.evaluation.encoders",
}


class _AliasLoader(importlib.abc.Loader):
    """Loads an old module path as the module that replaced it (the same module object)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec):
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:
        pass


class _OldPaths(importlib.abc.MetaPathFinder):
    """Finds the modules of `_OLD_PATHS` (and their submodules) at their new homes."""

    def find_spec(self, fullname: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        for old, new in _OLD_PATHS.items():
            if fullname == old or fullname.startswith(old + "."):
                return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new + fullname[len(old) :]))
        return None


def _register_models() -> None:
    import bioscan_hf.models  # noqa: F401  (registers on import)


class _RegisterAfterTransformers(importlib.abc.MetaPathFinder):
    """Runs `_register_models` right after `transformers` finishes importing, once."""

    def find_spec(self, fullname: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "transformers":
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


if "transformers" in sys.modules:
    _register_models()
elif not any(isinstance(finder, _RegisterAfterTransformers) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterTransformers())

if not any(isinstance(finder, _OldPaths) for finder in sys.meta_path):
    sys.meta_path.append(_OldPaths())
