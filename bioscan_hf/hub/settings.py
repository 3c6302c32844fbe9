"""Where an upload goes (`HubSettings`: the repo, its visibility, the token): one declaration for `push`,
`push-model` and `push-space`, and the argument of every upload function."""

from __future__ import annotations

from dataclasses import dataclass

from bioscan_hf.core.options import Settings, option


@dataclass(frozen=True, kw_only=True)
class HubSettings(Settings):
    """The Hub repo an upload creates (if needed) and writes to."""

    repo_id: str = option(
        "Hub repo id: me/bioscan-5m (push: a dataset), me/barcodebert (push-model), me/bioscan-retrieval (push-space)"
    )
    private: bool = option("create the repo as private", False)
    token: str | None = option("Hub token (default: the logged-in one)", None)
