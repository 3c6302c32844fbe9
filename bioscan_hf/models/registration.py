"""Registering a model family with transformers' Auto classes, in one call per family: its config under
its `model_type`, each model class under the Auto class that loads it, its tokenizers; with `remote_code`,
also the `auto_map` a saved folder carries, so it loads with `trust_remote_code=True` where bioscan-hf is
not installed."""

from __future__ import annotations

import transformers


def register(
    model_type: str,
    config: type,
    models: dict[str, type],
    slow_tokenizer: type | None = None,
    fast_tokenizer: type | None = None,
    remote_code: bool = False,
) -> None:
    """`models`: Auto class name (`AutoModel`, `AutoModelForMaskedLM`, …) → the family's class for it."""
    transformers.AutoConfig.register(model_type, config, exist_ok=True)
    for auto, model in models.items():
        getattr(transformers, auto).register(config, model, exist_ok=True)
    if slow_tokenizer or fast_tokenizer:
        transformers.AutoTokenizer.register(
            config, slow_tokenizer_class=slow_tokenizer, fast_tokenizer_class=fast_tokenizer, exist_ok=True
        )
    if remote_code:
        config.register_for_auto_class()
        for auto, model in models.items():
            model.register_for_auto_class(auto)
        for tokenizer in (slow_tokenizer, fast_tokenizer):
            if tokenizer is not None:
                tokenizer.register_for_auto_class("AutoTokenizer")
