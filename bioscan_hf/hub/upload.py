"""Uploads to the Hugging Face Hub, shared by datasets, models and the Space."""

from __future__ import annotations

import os

from huggingface_hub import HfApi


def upload_folder(
    folder: str | os.PathLike,
    repo_id: str,
    repo_type: str,
    token: str | None = None,
    private: bool = False,
    ignore_patterns: list[str] | None = None,
    message: str = "Upload with bioscan-hf",
) -> str:
    """Create the Hub repo if needed and upload `folder` into it; returns the repo URL."""
    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    api.upload_folder(
        repo_id=repo_id,
        repo_type=repo_type,
        folder_path=str(folder),
        ignore_patterns=ignore_patterns,
        commit_message=message,
    )
    return str(url)
