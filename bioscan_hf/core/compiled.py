"""numba's kernels cached on disk where they can be: one rule for every module of compiled loops."""

from __future__ import annotations

from typing import Any


def cache_compiled(*kernels: Any) -> None:
    """Each of `kernels` (numba dispatchers) compiled once per machine into numba's cache, beside its source or in
    the user's cache folder; where neither can be written (a read-only install and home) it is compiled at every
    run instead (a few seconds) rather than failing."""
    for kernel in kernels:
        try:
            kernel.enable_caching()
        except RuntimeError:
            pass
