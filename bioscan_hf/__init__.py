"""bioscan-hf: the Hugging Face-native toolkit for BIOSCAN-5M.

The package's model families (BarcodeBERT, BarcodeMamba, CLIBD, CNN) register with transformers' Auto
classes when the Auto classes are first asked for something: after `import bioscan_hf`, the first lookup in
an Auto mapping (`AutoConfig.for_model`, `AutoModel.from_pretrained`, `"barcodebert" in CONFIG_MAPPING`…)
imports `bioscan_hf.models`, which registers them, and then answers. Until then nothing imports torch or a
model, so `bioscan-hf --help`, the data layer and the argument parser (transformers' `HfArgumentParser`) stay
fast: transformers' own `_LazyModule` defers its model folders the same way, and its Auto classes offer no
lazy registration by name for classes outside transformers. (Registering when transformers' auto package
is imported is too early: transformers imports it while its `modeling_utils` is half-initialised.)

Modules that moved keep their old import paths for one release as modules of their own that warn
(`DeprecationWarning` naming the new path; CHANGELOG.md names the version that removes them).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys

#: transformers' lazy Auto mappings: module → class whose lookups first register our families.
_MAPPINGS = {
    "transformers.models.auto.configuration_auto": "_LazyConfigMapping",
    "transformers.models.auto.auto_factory": "_LazyAutoMapping",
}
#: The lookups that can ask for one of our model types or config classes.
_LOOKUPS = ("__getitem__", "__contains__", "get", "keys", "values", "items", "__iter__")
_STATE = {"registered": False}


def _importing_models() -> bool:
    """Whether a model module (ours or transformers') is being imported right now: transformers looks
    things up in its Auto mappings while it defines its classes, and registering then would import our
    families in the middle of that import (a circular import). Such a lookup never asks for our types."""
    return any(
        getattr(getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items())
        if name.startswith(("bioscan_hf.models", "transformers.models", "transformers.modeling"))
    )


def _register_models() -> None:
    if not _STATE["registered"] and not _importing_models():
        _STATE["registered"] = True  # first: registering looks things up in the mappings itself
        import bioscan_hf.models.auto  # noqa: F401  (registers on import)


def _register_on_first_lookup(mapping: type) -> None:
    for name in _LOOKUPS:
        lookup = getattr(mapping, name, None)
        if lookup is None or getattr(lookup, "_bioscan_hf", False):
            continue

        def registering(self, *args, _lookup=lookup, **kwargs):
            _register_models()
            return _lookup(self, *args, **kwargs)

        registering._bioscan_hf = True
        setattr(mapping, name, registering)


class _RegisterOnFirstLookup(importlib.abc.MetaPathFinder):
    """When a module of `_MAPPINGS` has finished importing, its mapping class registers our families on its
    first lookup."""

    def find_spec(self, fullname: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _MAPPINGS:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def exec_then_patch(module) -> None:
                exec_module(module)
                _register_on_first_lookup(getattr(module, _MAPPINGS[fullname]))

            spec.loader.exec_module = exec_then_patch
        return spec


for _module, _mapping in _MAPPINGS.items():
    if _module in sys.modules:
        _register_on_first_lookup(getattr(sys.modules[_module], _mapping))
if not any(isinstance(finder, _RegisterOnFirstLookup) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterOnFirstLookup())
