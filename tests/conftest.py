"""Shared fixtures: a small synthetic release, an isolated cache, and the real data folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BOLD_TSV = SHARED_DATA / "bold" / "insects_dev.tsv.gz"
REAL_IMAGES = SHARED_DATA / "images"


# Set before any test module imports `datasets`, which reads its cache folder once, at import: a cache
# shared across sessions can hand a test the dataset an earlier session prepared at a look-alike path.
_CACHES = Path(tempfile.mkdtemp(prefix="bioscan-hf-test-caches-"))
os.environ["BIOSCAN_HF_CACHE"] = str(_CACHES / "bioscan_cache")
os.environ["HF_DATASETS_CACHE"] = str(_CACHES / "hf_datasets")
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache() -> Iterator[None]:
    yield
    shutil.rmtree(_CACHES, ignore_errors=True)


@pytest.fixture(autouse=True)
def _own_working_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in an empty folder of its own: a relative path in a test never resolves against the
    checkout, where a user's README run may have left `bb/`, `bioscan-5m/` or `work/`."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def _default_output_policy() -> Iterator[None]:
    """Each test starts with the default output policy: a command run with `--quiet` by an earlier test in
    the same worker leaves the package's logger at ERROR otherwise."""
    yield
    from bioscan_hf.core.console import configure_output

    configure_output()


@pytest.fixture(scope="session")
def sample_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-record synthetic release with all four image packages (read-only for tests)."""
    from bioscan_hf.data.sample import write_sample_release

    return write_sample_release(tmp_path_factory.mktemp("release"), scale=300, seed=7)


@pytest.fixture(scope="session")
def prepared(sample_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample release published with the metadata and cropped_256 configs."""
    from bioscan_hf.data.publish import prepare

    out = tmp_path_factory.mktemp("prepared")
    prepare(sample_release, out, configs=["metadata", "cropped_256", "cropped_256_eval"])
    return out


@pytest.fixture
def bold_tsv() -> Path:
    if not BOLD_TSV.exists():
        pytest.skip(f"real BOLD barcodes not found at {BOLD_TSV} (../shared/data is absent in a fresh clone)")
    return BOLD_TSV


@pytest.fixture
def tiny_clibd_inputs() -> dict:
    """A batch of 3 records with all three modalities for `TINY_CLIBD`."""
    import torch

    from bioscan_hf.models.barcodebert import KmerTokenizerFast

    torch.manual_seed(0)
    dna = KmerTokenizerFast(k=4)(["ACGTACGTAAAT", "TTTTACGTACGG", "ACGGTTGA"], padding=True, return_tensors="pt")
    text = torch.randint(5, 60, (3, 5))
    return {
        "pixel_values": torch.randn(3, 3, 32, 32),
        "dna_input_ids": dna["input_ids"],
        "dna_attention_mask": dna["attention_mask"],
        "text_input_ids": text,
        "text_attention_mask": torch.ones_like(text),
    }


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first, so that under `-n 2` the longest (the README snippets) starts at once on one
    worker while the other takes the rest, instead of starting last and running alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
