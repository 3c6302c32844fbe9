"""Uploads to the Hugging Face Hub, shared by datasets, models and the Space. Uploading a prepared dataset
lives here, on the Publish floor, above the data layer it checks (`push_dataset`): the data layer never
reaches up to the Hub code."""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import HfApi

from bioscan_hf.core.outputs import OWNER_FILE
from bioscan_hf.data.prepared import completed_configs
from bioscan_hf.hub.settings import HubSettings


def upload_folder(
    folder: str | os.PathLike,
    repo_type: str,
    settings: HubSettings | None = None,
    *,
    ignore_patterns: list[str] | None = None,
    message: str = "Upload with bioscan-hf",
    **overrides,
) -> str:
    """Create the Hub repo of `settings` if needed and upload `folder` into it; returns the repo URL."""
    settings = HubSettings.given(settings, **overrides)
    api = HfApi(token=settings.token)
    url = api.create_repo(settings.repo_id, repo_type=repo_type, private=settings.private, exist_ok=True)
    api.upload_folder(
        repo_id=settings.repo_id,
        repo_type=repo_type,
        folder_path=str(folder),
        ignore_patterns=ignore_patterns,
        commit_message=message,
    )
    return str(url)


def push_dataset(folder: str | os.PathLike, settings: HubSettings | None = None, **overrides) -> str:
    """Upload a prepared folder to a Hub dataset repo (created if needed); returns the repo URL."""
    from bioscan_hf.data.publish import PrepareError

    folder = Path(folder)
    if not (folder / "README.md").exists() or not completed_configs(folder):
        raise PrepareError(f"{folder} is not a prepared dataset folder (run `bioscan-hf prepare` first)")
    return upload_folder(
        folder,
        "dataset",
        HubSettings.given(settings, **overrides),
        ignore_patterns=[".staging/*", ".staging/**", OWNER_FILE],
        message="Upload BIOSCAN-5M prepared with bioscan-hf",
    )
