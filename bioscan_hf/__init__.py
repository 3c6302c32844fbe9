"""bioscan-hf: the Hugging Face-native toolkit for BIOSCAN-5M.

Importing the package registers its model classes (BarcodeBERT, CLIBD) with transformers' Auto classes
as soon as transformers is imported, so `AutoConfig.for_model("barcodebert")` and
`AutoModel.from_pretrained(converted_folder)` work after `import bioscan_hf`. The registration waits for
transformers (a post-import hook) so that `bioscan-hf --help` and the data layer stay fast.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys


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
