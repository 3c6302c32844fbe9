"""Where the package keeps its caches: `$BIOSCAN_HF_CACHE`, else under `$HF_HOME`, else ~/.cache."""

from pathlib import Path

import pytest

from bioscan_hf.core.paths import cache_dir


def test_the_cache_follows_hf_home_unless_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIOSCAN_HF_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert cache_dir() == tmp_path / "hf" / "bioscan_hf" and cache_dir().is_dir()
    monkeypatch.setenv("BIOSCAN_HF_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("BIOSCAN_HF_CACHE")
    monkeypatch.delenv("HF_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "bioscan_hf"
