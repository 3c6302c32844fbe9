"""The retrieval indexes and the Space: searched in Python, launched on loopback and queried with
gradio_client (photo, DNA, processid and the bad inputs), and rendered in headless Chromium."""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import socket
import struct
import zlib
from pathlib import Path

import faiss
import numpy as np
import pytest
from helpers import require_tools
from PIL import Image

from bioscan_hf.data.prepared import load_prepared
from bioscan_hf.search import QueryError, Searcher, build_index, parse_dna_query, parse_dna_records

APP = Path(__file__).resolve().parents[2] / "spaces" / "bioscan-retrieval" / "app.py"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
REAL_IMAGES = Path(__file__).resolve().parents[3] / "shared" / "data" / "images"


@pytest.fixture(scope="module")
def dna_index(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_index(prepared, "kmer6", tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="module")
def clibd_index(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bioscan_hf.training.clibd import train_clibd

    run = train_clibd(
        prepared,
        tmp_path_factory.mktemp("clibd"),
        preset="small",
        finetune="full",
        max_steps=3,
        per_device_train_batch_size=16,
        save_steps=100,
        disable_tqdm=True,
    )
    return build_index(prepared, str(run.model_dir), tmp_path_factory.mktemp("clibd_index"))


@pytest.fixture(scope="module")
def key_photo(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The processid and photo (as an uploaded file) of the first train record."""
    record = load_prepared(prepared, "cropped_256")["train"][0]
    path = tmp_path_factory.mktemp("photo") / "specimen.jpg"
    record["image"].save(path)
    return record["processid"], path


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width × height pixels (decoding would allocate them)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.damaged_input
def test_parse_queries() -> None:
    assert parse_dna_query(">seq1 some header\nacgt-ACGT\nNNNN\n") == "ACGTACGT"
    for bad, message in (
        ("", "empty"),
        ("hello world", "the query: not DNA: 'e' at position 1"),
        ("A" * 6000, "limit"),
    ):
        with pytest.raises(QueryError, match=message):
            parse_dna_query(bad)
    # several records are never joined into one chimeric query
    assert parse_dna_records(">a\nACGT\nAC\n>b one\nTTTT\n\n>c\nGG") == [
        ("a", "ACGTAC"),
        ("b one", "TTTT"),
        ("c", "GG"),
    ]
    with pytest.raises(QueryError, match=r"record 2 \(b\): not DNA: 'X' at position 2"):
        parse_dna_records(">a\nACGT\n>b\nACXT")


def test_dna_searcher_finds_the_key_itself(dna_index: Path, key_photo: tuple[str, Path]) -> None:
    searcher = Searcher(dna_index)
    assert searcher.modalities == ["dna"]
    key = searcher.keys.iloc[3]
    result = searcher.search_dna(key.dna_barcode, k=5)
    assert result.neighbours.similarity.iloc[0] == pytest.approx(1.0, abs=1e-4)
    assert list(result.prediction["rank"]) == ["order", "family", "subfamily", "genus", "species"]
    assert 0 < result.prediction.agreement.iloc[0] <= 1
    by_pid = searcher.search_processid(key.processid, k=5)
    assert key.processid not in set(by_pid.neighbours.processid)
    with pytest.raises(QueryError, match="unknown processid"):
        searcher.search_processid("NOPE-00")
    with pytest.raises(QueryError, match="CLIBD"):
        searcher.search_image(key_photo[1])
    with pytest.raises(QueryError, match="no image keys"):
        searcher.search_dna(key.dna_barcode, keys="image")


def test_barcodes_are_identified_by_alignment_with_calls(dna_index: Path) -> None:
    searcher = Searcher(dna_index)
    labelled = searcher.keys[searcher.keys.species.notna()]
    key = labelled.iloc[0]
    twins = searcher.keys[searcher.keys.dna_barcode == key.dna_barcode]
    result = searcher.identify_dna(f">{key.processid}\n{key.dna_barcode}", k=5)
    assert result.neighbours.pident.iloc[0] == 100.0 and result.neighbours.processid.iloc[0] in set(twins.processid)
    assert result.neighbours.same_barcode_records.iloc[0] == len(twins)
    assert result.neighbours.pident.between(0, 100).all() and len(result.neighbours) == 5
    # the hit columns of identify's hits file, then the key's metadata
    assert list(result.neighbours.columns[:8]) == [
        "pident",
        "processid",
        "same_barcode_records",
        "length",
        "mismatch",
        "gapopen",
        "qcovs",
        "bitscore",
    ]
    calls = result.prediction.set_index("rank")
    assert list(calls.index) == ["order", "family", "subfamily", "genus", "species", "dna_bin"]
    assert calls.loc["order", "prediction"] == key.order and calls.loc["order", "confidence"] > 0
    # a barcode 6% away from the key: its species is not called (its candidate is named)
    rng = np.random.default_rng(1)
    far = "".join(
        b if rng.random() > 0.06 else {"A": "C", "C": "G", "G": "T", "T": "A"}.get(b, b) for b in key.dna_barcode
    )
    distant = searcher.identify_dna(far, k=3)
    assert 92 <= distant.neighbours.pident.iloc[0] < 96
    assert distant.prediction.set_index("rank").loc["species", "prediction"] == "(no call)"
    assert distant.prediction.set_index("rank").loc["species", "candidate"] == key.species
    assert "no call at species" in distant.note and "possibly a species missing" in distant.note


def test_a_barcode_is_placed_among_the_index_clusters(dna_index: Path, tmp_path: Path) -> None:
    """With a cluster registry in the index folder, a barcode query is said to join a cluster (a key's own
    barcode) or to found a new one (a barcode 5% from every key), with its nearest clusters."""
    import shutil

    from bioscan_hf.clusters import cluster
    from tests.helpers import mutate

    folder = tmp_path / "index"
    shutil.copytree(dna_index, folder)
    searcher = Searcher(folder)
    keys = searcher.keys[["processid", "dna_barcode", "species"]]
    fasta = tmp_path / "keys.fasta"
    fasta.write_text("".join(f">{r.processid}\n{r.dna_barcode}\n" for r in keys.itertuples()))
    run = cluster(fasta, folder / "clusters.tsv", progress=False)
    spec = importlib.util.spec_from_file_location("space_app_clusters", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    registry = module.read_registry(folder / module.REGISTRY_FILE)
    key = keys.iloc[0]
    own = dict(zip(run.records["processid"], run.records["cluster"]))[key.processid]
    line = module.cluster_line(searcher.identify_dna(key.dna_barcode, 10), registry)
    assert line.startswith(f"Cluster: joins **{module.as_text(own)}**")
    far = mutate(key.dna_barcode, 0.05, np.random.default_rng(0))
    line = module.cluster_line(searcher.identify_dna(far, 10), registry)
    assert line.startswith("Cluster: would found a **new cluster**") and module.as_text(own) in line


def test_an_index_folders_calibration_is_used_for_barcode_calls(dna_index: Path, tmp_path: Path) -> None:
    from bioscan_hf.search.held_out import calibrate
    from bioscan_hf.search.references import REFERENCE_COLUMNS

    folder = tmp_path / "index"
    shutil.copytree(dna_index, folder)
    searcher = Searcher(folder)
    calibrate(searcher.keys[list(REFERENCE_COLUMNS)], queries=20, progress=False).save(folder / "calibration.skops")
    key = searcher.keys.iloc[0]
    calibrated = Searcher(folder)
    calibrated.identify_dna(key.dna_barcode)
    assert calibrated._identifier.calibration.fitted_on.startswith("reference ")
    plain = Searcher(dna_index)  # no file: the default fitted on the real BOLD file
    plain.identify_dna(key.dna_barcode)
    assert plain._identifier._calibration().fitted_on.startswith("the real BOLD file")


def test_clibd_searcher_photos_and_barcodes(clibd_index: Path, key_photo: tuple[str, Path]) -> None:
    searcher = Searcher(clibd_index)
    assert searcher.modalities == ["dna", "image"]
    processid, photo = key_photo
    same = searcher.search_image(photo, k=3, keys="image")  # the key's own photo is its nearest photo
    assert same.neighbours.processid.iloc[0] == processid and same.neighbours.similarity.iloc[0] > 0.99
    assert all(isinstance(t, bytes) for t in same.thumbnails)
    assert Image.open(io.BytesIO(same.thumbnails[0])).size[0] <= 160
    cross = searcher.search_image(photo.read_bytes(), k=4, keys="dna")
    assert len(cross.neighbours) == 4 and "thumbnail" not in cross.neighbours
    by_barcode = searcher.search_dna(searcher.keys.dna_barcode.iloc[0], k=2, keys="image")
    assert len(by_barcode.neighbours) == 2
    for bad, message in (
        (b"plain text, not a photo", "not a readable image"),
        (bomb_png(8_000, 8_000), "decompression bomb"),  # over our 40 Mpx limit
        (bomb_png(100_000, 100_000), "not a readable image"),  # over PIL's own limit too
        (b"", "no image data"),
    ):
        with pytest.raises(QueryError, match=message):
            searcher.search_image(bad)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def space(clibd_index: Path):
    """The app on loopback (upload limit 200 kB so the oversized case is cheap): (url, searcher)."""
    pytest.importorskip("gradio")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["BIOSCAN_SPACE_INDEX"] = str(clibd_index)
    spec = importlib.util.spec_from_file_location("space_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    searcher = Searcher(clibd_index)
    app = module.build_app(searcher, max_upload_bytes=200_000)
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        yield f"http://127.0.0.1:{port}/", searcher
    finally:
        app.close()


@pytest.mark.damaged_input
def test_space_answers_over_http(space, key_photo: tuple[str, Path], tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    url, searcher = space
    client = Client(url, verbose=False)
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/search_dna"]
    assert [r["label"] for r in api["returns"]][0] == "status"  # named outputs, not value_19
    assert all(p["parameter_has_default"] for p in api["parameters"])  # a barcode alone is a full call
    status, *_ = client.predict(searcher.keys.dna_barcode.iloc[0], api_name="/search_dna")
    assert "Best match" in status
    dna_keys, photo_keys = "reference barcodes (DNA)", "reference photos"
    key = searcher.keys.iloc[0]
    status, gallery, neighbours, prediction, _ = client.predict(
        handle_file(str(key_photo[1])), photo_keys, 5, api_name="/search_image"
    )
    assert "Best match" in status and len(neighbours["data"]) == 5 and len(gallery) == 5
    status, _, neighbours, prediction, _ = client.predict(key.dna_barcode, None, dna_keys, 5, api_name="/search_dna")
    assert "Best match" in status and "100.00% identity" in status and len(neighbours["data"]) <= 5
    assert neighbours["headers"][:2] == ["pident", "processid"] and neighbours["data"][0][0] == 100.0
    assert prediction["headers"] == ["rank", "prediction", "candidate", "confidence", "support"]
    status, *_ = client.predict(handle_file(str(key_photo[1])), dna_keys, 3, api_name="/search_image")
    assert "Best match" in status
    real_photos = sorted((REAL_IMAGES / "cropped_256").glob("*.jpg"))
    if real_photos:  # a real specimen photo (not paired with any barcode) exercises the image path
        status, gallery, *_ = client.predict(handle_file(str(real_photos[0])), photo_keys, 4, api_name="/search_image")
        assert "Best match" in status and len(gallery) == 4
    fasta = tmp_path / "query.fasta"
    fasta.write_text(f">{key.processid} uploaded\n{key.dna_barcode[:300]}\n{key.dna_barcode[300:]}\n")
    status, _, neighbours, _, _ = client.predict("", handle_file(str(fasta)), dna_keys, 3, api_name="/search_dna")
    assert "Best match" in status and neighbours["data"][0][0] == 100.0  # the key itself (or its barcode twin)
    other = searcher.keys.iloc[1]
    fasta.write_text(f">{key.processid}\n{key.dna_barcode}\n>{other.processid}\n{other.dna_barcode}\n")
    status, _, neighbours, _, _ = client.predict("", handle_file(str(fasta)), dna_keys, 3, api_name="/search_dna")
    assert f"2 FASTA records were read; only the first ({key.processid}) was searched" in status
    assert neighbours["data"][0][0] == 100.0
    status, *_ = client.predict("ACGT<script>alert(1)</script>", None, dna_keys, 5, api_name="/search_dna")
    assert "Cannot search" in status and "&lt;" in status and "<script>" not in status  # escaped, never live HTML
    status, _, neighbours, _, _ = client.predict(key.processid, dna_keys, 3, api_name="/search_processid")
    assert "Best match" in status and len(neighbours["data"]) == 3
    for bad, message in (("not dna!", "not DNA"), ("", "empty")):
        status, *_ = client.predict(bad, None, dna_keys, 5, api_name="/search_dna")
        assert "Cannot search" in status and message in status
    status, *_ = client.predict("UNKNOWN-1", dna_keys, 5, api_name="/search_processid")
    assert "unknown processid" in status
    bad_files = {
        "notes.jpg": (b"this is not a photo\n" * 10, "not a readable image"),
        "bomb.png": (bomb_png(8_000, 8_000), "decompression bomb"),
        "huge.jpg": (b"\xff" * 300_000, "the limit is 0.2 MB"),
    }
    for name, (content, message) in bad_files.items():
        (tmp_path / name).write_bytes(content)
        status, gallery, *_ = client.predict(handle_file(str(tmp_path / name)), photo_keys, 5, api_name="/search_image")
        assert "Cannot search" in status and message in status and gallery == []
    status, *_ = client.predict(key.dna_barcode, None, dna_keys, 5, api_name="/search_dna")  # still serving
    assert "Best match" in status


@pytest.mark.damaged_input
def test_page_renders_results_in_headless_chromium(space) -> None:
    """Type a barcode, press Search, wait for the results; the screenshot is kept in test-artifacts/."""
    chromium, driver_path = require_tools("chromium", "chromedriver", package="chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    url, searcher = space
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,2000",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        browser.get(url)
        wait = WebDriverWait(browser, 60)
        # the page's ready state (the load event has run): what a user or a screenshot tool waits for
        wait.until(expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, "#status"), "Ready:"))
        wait.until(lambda b: "Loading" not in b.find_element(By.TAG_NAME, "body").text)
        headers = {th.text.strip() for th in browser.find_elements(By.CSS_SELECTOR, "th")} - {""}
        assert {"rank", "confidence", "pident", "processid"} <= headers and not {"1", "2", "3"} & headers, headers
        ARTIFACTS.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "space_ready.png"))
        wait.until(
            expected_conditions.element_to_be_clickable(
                (By.XPATH, "//button[@role='tab' and normalize-space()='DNA barcode']")
            )
        )
        browser.find_element(By.XPATH, "//button[@role='tab' and normalize-space()='DNA barcode']").click()
        box = wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "#dna-query textarea")))
        box.send_keys(searcher.keys.dna_barcode.iloc[0])
        browser.find_element(By.CSS_SELECTOR, "#search-dna").click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, "#status"), "Best match"))
        status = browser.find_element(By.CSS_SELECTOR, "#status").text
        assert "% identity" in status and "identified to" in status
        assert searcher.keys.processid.iloc[0] in browser.page_source  # the neighbours table shows the key itself
        box.clear()
        box.send_keys('ACGT<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>')
        browser.find_element(By.CSS_SELECTOR, "#search-dna").click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, "#status"), "Cannot search"))
        assert "<img src=x" in browser.find_element(By.CSS_SELECTOR, "#status").text  # shown as text
        assert browser.execute_script("return window.__pwned") is None  # never run
        # Markdown from a FASTA header or an id is shown as the characters typed: no live image or link
        key, other = searcher.keys.iloc[0], searcher.keys.iloc[1]
        payload = "![t](http://127.0.0.1:9/track.png) [click here](https://example.com/x) *b* `c`"
        box.clear()
        box.send_keys(f">{payload}\n{key.dna_barcode}\n>second\n{other.dna_barcode}\n")
        browser.find_element(By.CSS_SELECTOR, "#search-dna").click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, "#status"), "only the first"))
        shown = browser.find_element(By.CSS_SELECTOR, "#status")
        assert shown.text.startswith("Best match")  # the match first, the notes that qualify it after
        assert payload.split(" [")[0] in shown.text and "[click here](https://example.com/x)" in shown.text
        assert not shown.find_elements(By.CSS_SELECTOR, "img, a, em, code")
        browser.find_element(By.XPATH, "//button[@role='tab' and normalize-space()='processid']").click()
        pid_box = wait.until(
            expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "#processid-query textarea"))
        )
        pid_box.send_keys(payload)
        browser.find_element(By.CSS_SELECTOR, "#search-processid").click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, "#status"), "unknown processid"))
        shown = browser.find_element(By.CSS_SELECTOR, "#status")
        assert "![t](http://127.0.0.1:9/track.png)" in shown.text
        assert not shown.find_elements(By.CSS_SELECTOR, "img, a, em, code")
        ARTIFACTS.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "space_dna_query.png"))
    finally:
        browser.quit()


def test_space_builds_its_artifacts_on_first_start(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("space_app_first_start", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = module.ensure_index(tmp_path / "artifacts" / "index", clibd_steps=2, scale=200)
    searcher = Searcher(folder)
    assert searcher.modalities == ["dna", "image"] and searcher.info["encoder"] == "ClibdEncoder"
    assert module.ensure_index(folder) == folder  # second start: reused, nothing rebuilt


def test_index_folder_carries_its_model(clibd_index: Path, tmp_path: Path, key_photo: tuple[str, Path]) -> None:
    moved = Path(shutil.copytree(clibd_index, tmp_path / "moved"))
    assert (moved / "model" / "config.json").is_file() and not list((moved / "model").glob("checkpoint-*"))
    searcher = Searcher(moved)
    assert searcher.info["model"] == "model" and searcher.encoder.name == str(moved / "model")
    assert searcher.search_image(key_photo[1], k=1).neighbours.processid.iloc[0] == key_photo[0]


def test_index_and_push_space_commands(prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi

    from bioscan_hf.cli import main

    assert (
        main(["index", "--dataset", str(prepared), "--out", str(tmp_path / "idx"), "--approximate", "--nprobe", "3"])
        == 0
    )
    searcher = Searcher(tmp_path / "idx")
    assert searcher.info["approximate"] is True
    assert faiss.extract_index_ivf(searcher.indexes["dna"]).nprobe == 3
    uploaded = {}
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: f"https://hub/{repo_id}")

    def upload(self, **kw):
        uploaded["files"] = sorted(str(p.relative_to(kw["folder_path"])) for p in Path(kw["folder_path"]).rglob("*"))
        uploaded["repo_type"] = kw["repo_type"]

    monkeypatch.setattr(HfApi, "upload_folder", upload)
    assert main(["push-space", "--repo-id", "me/space", "--index", str(tmp_path / "idx")]) == 0
    assert uploaded["repo_type"] == "space"
    assert {"app.py", "README.md", "requirements.txt", "artifacts/index/dna.faiss"} <= set(uploaded["files"])


def test_large_approximate_indexes_store_16_then_8_bit_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    import bioscan_hf.core.vectors as retrieval

    rng = np.random.default_rng(0)
    keys = rng.normal(size=(4_000, 32)).astype("f4")
    faiss.normalize_L2(keys)
    assert isinstance(retrieval.ivf_index(keys), faiss.IndexIVFFlat)
    for budget, kind in ((4_000 * 32 * 2, faiss.ScalarQuantizer.QT_fp16), (1_000, faiss.ScalarQuantizer.QT_8bit)):
        monkeypatch.setattr(retrieval, "FLOAT_BYTES", budget)  # float32 no longer fits; 16-bit fits, then not
        index = retrieval.ivf_index(keys)
        assert isinstance(index, faiss.IndexIVFScalarQuantizer) and index.sq.qtype == kind
        index.add(keys)
        _, ids = index.search(keys[:20], 1)
        assert (ids[:, 0] == np.arange(20)).mean() >= 0.95  # the codes still find the key itself
    assert isinstance(retrieval.ivf_index(keys, compress=False), faiss.IndexIVFFlat)  # an explicit choice wins


@pytest.mark.damaged_input
@pytest.mark.parametrize(
    ("damage", "file", "reason"),
    [
        (lambda f: f.write_bytes(f.read_bytes()[: f.stat().st_size // 2]), "dna.faiss", "is damaged"),
        (lambda f: f.write_bytes(b"PAR1 not parquet"), "keys.parquet", "is damaged"),
        (lambda f: f.write_text('{"modalities": ['), "index.json", "is damaged"),
        (lambda f: f.unlink(), "keys.parquet", "is missing"),
    ],
)
def test_a_damaged_index_folder_names_the_file_and_the_fix(dna_index: Path, tmp_path: Path, damage, file, reason):
    from bioscan_hf.search import IndexFolderError

    folder = tmp_path / "index"
    shutil.copytree(dna_index, folder)
    damage(folder / file)
    with pytest.raises(IndexFolderError, match=rf"{folder / file} {reason}.*rebuild the index folder with `bioscan-hf"):
        Searcher(folder)
    spec = importlib.util.spec_from_file_location("space_app_error", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        Searcher(folder)
    except IndexFolderError as err:
        page = module.error_page(str(err))
    assert any(file in str(getattr(block, "value", "")) for block in page.blocks.values())
