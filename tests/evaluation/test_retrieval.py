"""Retrieval metrics on a hand-made case: top-k hits, macro averaging, harmonic mean, masks."""

from __future__ import annotations

import io

import numpy as np
import pytest

from bioscan_hf.core.errors import EvaluationError
from bioscan_hf.evaluation.retrieval import harmonic_mean, score_direction, topk_accuracy

# Keys on the unit circle at 0°, 10°, 90°, 100°, 180°; labels A A B B C.
ANGLES = np.deg2rad([0, 10, 90, 100, 180])
KEYS = np.stack([np.cos(ANGLES), np.sin(ANGLES)], axis=1)
KEY_LABELS = ["A", "A", "B", "B", "C"]


def _at(*degrees: float) -> np.ndarray:
    radians = np.deg2rad(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1)


def test_topk_by_hand() -> None:
    # q1 at 2° → A A B: right at 1.  q2 at 95° labelled A → B B A…: wrong at 1, right at 3.
    # q3 at 170° labelled C → C B B: right at 1.  q4 at 46° labelled C → A B A B C: right only at 5.
    queries = _at(2, 95, 170, 46)
    result = topk_accuracy(KEYS, KEY_LABELS, queries, ["A", "A", "C", "C"], ks=(1, 3, 5))
    assert result[1][0] == pytest.approx(2 / 4)  # micro: q1, q3
    assert result[1][1] == pytest.approx((1 / 2 + 1 / 2) / 2)  # macro over classes A (1/2) and C (1/2)
    assert result[3][0] == pytest.approx(3 / 4)  # + q2
    assert result[3][1] == pytest.approx((2 / 2 + 1 / 2) / 2)
    assert result[5] == (1.0, 1.0)


def test_harmonic_mean() -> None:
    assert harmonic_mean(0.5, 1.0) == pytest.approx(2 / 3)
    assert harmonic_mean(0.0, 0.0) == 0.0


def test_directions_masks_and_unlabelled_records() -> None:
    image = KEYS[:, ::-1].copy()  # images live in another (mirrored) space
    keys = {
        "dna": KEYS,
        "image": image,
        "concat": np.hstack([image, KEYS]),
        "image_ok": np.array([1, 1, 1, 1, 0], bool),
    }
    key_labels = {rank: KEY_LABELS for rank in ("order", "family", "genus")} | {"species": ["A", None, "B", "B", "C"]}
    seen_dna = _at(2, 95)
    seen = {"dna": seen_dna, "image": seen_dna[:, ::-1], "image_ok": np.array([True, False])}
    seen["concat"] = np.hstack([seen["image"], seen_dna])
    unseen_dna = _at(175)
    unseen = {"dna": unseen_dna, "image": unseen_dna[:, ::-1], "image_ok": np.array([True])}
    unseen["concat"] = np.hstack([unseen["image"], unseen_dna])
    labels = {"seen": {r: ["A", "B"] for r in key_labels}, "unseen": {r: ["C"] for r in key_labels}}
    queries = {"seen": seen, "unseen": unseen}
    dna = score_direction(keys, key_labels, queries, labels, "dna_to_dna", ks=(1,))
    assert dna["dna_to_dna_order_top1_micro_seen"] == 1.0 and dna["dna_to_dna_order_top1_micro_unseen"] == 1.0
    assert dna["dna_to_dna_order_top1_macro_hm"] == 1.0
    # image keys: the C key has no image, so the unseen C query cannot be right; the seen query 2 has no image
    image = score_direction(keys, key_labels, queries, labels, "image_to_image", ks=(1,))
    assert image["image_to_image_order_top1_micro_seen"] == 1.0  # only query 1 (A) is scored
    assert image["image_to_image_order_top1_micro_unseen"] == 0.0
    assert image["image_to_image_order_top1_micro_hm"] == 0.0
    # image → DNA across spaces: nearest DNA key of the mirrored query 2° (i.e. 88°) is B at 90°
    cross = score_direction(keys, key_labels, queries, labels, "image_to_dna", ks=(1,))
    assert cross["image_to_dna_order_top1_micro_seen"] == 0.0
    with pytest.raises(EvaluationError, match="no key is labelled at order"):
        score_direction(keys, {**key_labels, "order": [None] * 5}, queries, labels, "dna_to_dna")


def test_undecodable_images_are_left_out_and_named(tmp_path) -> None:
    import datasets
    from helpers import tiny_clibd_folder
    from PIL import Image

    from bioscan_hf.embedding.clibd import ClibdEncoder

    tiny_clibd_folder(tmp_path)
    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), (120, 90, 30)).save(buffer, format="JPEG")
    photo = {"bytes": buffer.getvalue(), "path": None}
    rows = datasets.Dataset.from_dict(
        {"processid": ["A-1", "B-2", "C-3"], "image": [photo, {"bytes": b"broken", "path": None}, photo]},
        features=datasets.Features({"processid": datasets.Value("string"), "image": datasets.Image()}),
    )
    from bioscan_hf.data.images import thumbnail_jpeg

    for workers in (0, 2):  # in the main process, and in DataLoader workers as on a GPU
        encoder = ClibdEncoder(tmp_path, device="cpu", num_workers=workers)
        vectors, ok, thumbnails = encoder.embed_image_records(rows, thumbnail=thumbnail_jpeg)
        assert ok.tolist() == [True, False, True] and list(encoder.undecodable) == ["B-2"]
        assert np.allclose(vectors[0], vectors[2], atol=1e-6) and not vectors[1].any()
        assert thumbnails[1] is None and Image.open(io.BytesIO(thumbnails[0])).size == (60, 40)
