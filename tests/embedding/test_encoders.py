"""Every encoder family behind one interface, built tiny and offline: a BertModel folder standing in for
DNABERT-style models, a remote-code model folder, a timm ViT with a saved weights file, a transformers ViT
folder, CLIBD and the k-mer profile. Each is checked against the embedding computed by hand."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import (
    tiny_bert_dna,
    tiny_clibd_folder,
    tiny_remote_code_dna,
    tiny_timm_weights,
    tiny_vit_folder,
)
from PIL import Image

from bioscan_hf.embedding import EncoderError, load_encoder
from bioscan_hf.models.checks import ModelFolderError

BARCODES = ["ACGTACGTTA", "AACCGGTT", "ACGTNACGTACGTACGTAA", "GATTACA"]


def _photos() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (50 + 10 * i, 70, 3), dtype=np.uint8)) for i in range(3)]


def test_hf_dna_model_mean_and_cls_pooling(tmp_path: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    folder = tiny_bert_dna(tmp_path / "dnabert")
    model, tokenizer = AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():  # one barcode at a time: no padding at all
        hidden = [model(**tokenizer(b, return_tensors="pt")).last_hidden_state[0] for b in BARCODES]
    mean = load_encoder(f"hf:{folder}", device="cpu", batch_size=3).embed_dna(BARCODES, progress=False)
    np.testing.assert_allclose(mean, np.stack([h.mean(0).numpy() for h in hidden]), rtol=1e-4, atol=1e-5)
    cls = load_encoder(f"hf:{folder}", pooling="cls", device="cpu").embed_dna(BARCODES, progress=False)
    np.testing.assert_allclose(cls, np.stack([h[0].numpy() for h in hidden]), rtol=1e-4, atol=1e-5)


def test_barcodes_beyond_the_model_limit_are_cut_with_a_warning(tmp_path: Path, caplog) -> None:
    folder = tiny_bert_dna(tmp_path / "short", max_length=12)  # [CLS] + 10 bases + [SEP]
    encoder = load_encoder(f"hf:{folder}", device="cpu")
    long, short = "ACGTACGTAC" + "GGGGGGGGGGGG", "ACGTACGTAC"
    with caplog.at_level(logging.WARNING):
        cut = encoder.embed_dna([long, "ACG"], progress=False)
    assert encoder.truncated == 1 and "reads at most 12 tokens: 1 of 2 barcodes were longer" in caplog.text
    np.testing.assert_allclose(cut[0], encoder.embed_dna([short], progress=False)[0], rtol=1e-5, atol=1e-6)


def test_remote_code_runs_only_when_the_user_allows_it(tmp_path: Path) -> None:
    folder = tiny_remote_code_dna(tmp_path / "remote")
    with pytest.raises(ValueError, match="trust_remote_code"):
        load_encoder(f"hf:{folder}", device="cpu")
    encoder = load_encoder(f"hf:{folder}", trust_remote_code=True, device="cpu")
    assert encoder.dna_dim == 12
    from safetensors.torch import load_file

    weights = load_file(folder / "model.safetensors")
    ids = encoder.tokenizer(BARCODES[1], return_tensors="pt")["input_ids"][0]
    by_hand = torch.tanh(weights["embed.weight"][ids] @ weights["mix.weight"].T + weights["mix.bias"]).mean(0)
    got = encoder.embed_dna(BARCODES, progress=False)  # a tuple output, padded batch: mean over real tokens
    np.testing.assert_allclose(got[1], by_hand.numpy(), rtol=1e-5, atol=1e-6)


def test_timm_model_with_a_local_weights_file(tmp_path: Path) -> None:
    import timm
    from safetensors.torch import load_file
    from torchvision import transforms

    weights = tiny_timm_weights(tmp_path / "test_vit.safetensors")
    encoder = load_encoder(f"timm:test_vit:{weights}", device="cpu")
    model = timm.create_model("test_vit", pretrained=False, num_classes=0)
    model.load_state_dict({k: v for k, v in load_file(weights).items() if not k.startswith("head.")})
    framing = transforms.Compose(  # the paper's eval framing at test_vit's 160 px, its own statistics
        [
            transforms.Resize(183),
            transforms.CenterCrop(160),
            transforms.ToTensor(),
            transforms.Normalize([0.5] * 3, [0.5] * 3),
        ]
    )
    photos = _photos()
    with torch.no_grad():
        expected = model.eval()(torch.stack([framing(p) for p in photos])).numpy()
    np.testing.assert_allclose(encoder.embed_images(photos, progress=False), expected, rtol=1e-4, atol=1e-5)
    pooled = load_encoder(f"timm:test_vit:{weights}", pooling="avg", device="cpu").embed_images(photos, progress=False)
    assert pooled.shape == expected.shape and not np.allclose(pooled, expected)
    with pytest.raises(EncoderError, match="weights file .*missing.safetensors not found"):
        load_encoder(f"timm:test_vit:{tmp_path / 'missing.safetensors'}")


def test_transformers_vision_folder_cls_and_average(tmp_path: Path) -> None:
    from transformers import ViTModel

    folder = tiny_vit_folder(tmp_path / "vit")
    photos = _photos()
    model = ViTModel.from_pretrained(folder).eval()
    resized = [np.asarray(p.resize((round(p.width * 37 / p.height), 37), Image.BILINEAR)) for p in photos]
    assert all(r.shape[0] == 37 for r in resized)
    cls = load_encoder(f"hf:{folder}", device="cpu")
    avg = load_encoder(f"hf:{folder}", pooling="avg", device="cpu")
    pixels = torch.stack([cls.image_transform(p) for p in photos])
    assert pixels.shape[-2:] == (32, 32)
    white = cls.image_transform(Image.new("RGB", (40, 40), (255, 255, 255)))
    assert torch.allclose(white, torch.full_like(white, 2.0))  # its processor's statistics: (1 - 0.5) / 0.25
    with torch.no_grad():
        hidden = model(pixel_values=pixels).last_hidden_state
    np.testing.assert_allclose(cls.embed_images(photos, progress=False), hidden[:, 0].numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        avg.embed_images(photos, progress=False), hidden[:, 1:].mean(1).numpy(), rtol=1e-4, atol=1e-5
    )
    assert not cls.has_dna
    with pytest.raises(EncoderError, match="does not embed barcodes"):
        cls.embed_dna(BARCODES)


def test_clibd_towers_and_empty_input(tmp_path: Path) -> None:
    encoder = load_encoder(tiny_clibd_folder(tmp_path / "clibd"), device="cpu")
    assert encoder.has_dna and encoder.has_images and encoder.dna_dim == encoder.image_dim == 16
    # the known bug: empty input raised AttributeError (config.hidden_size) for CLIBD
    assert encoder.embed_dna([], progress=False).shape == (0, 16)
    assert encoder.embed_images([], progress=False).shape == (0, 16)
    dna = encoder.embed_dna(["ACGTACGTAANNN", "ACGTACGTAA"], progress=False)
    np.testing.assert_allclose(dna[0], dna[1], rtol=1e-5, atol=1e-6)  # trailing N stripped, as in training
    with torch.no_grad():
        pixels = torch.stack([encoder.image_transform(p) for p in _photos()])
        expected = encoder.model.get_image_features(pixels).numpy()
    np.testing.assert_allclose(encoder.embed_images(_photos(), progress=False), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spec", ["kmer4", "hf", "timm"])
def test_empty_input_has_the_encoder_width(tmp_path: Path, spec: str) -> None:
    if spec == "hf":
        encoder = load_encoder(f"hf:{tiny_bert_dna(tmp_path / 'dna')}", device="cpu")
        assert encoder.embed_dna([], progress=False).shape == (0, 16)
    elif spec == "timm":
        encoder = load_encoder(f"timm:test_vit:{tiny_timm_weights(tmp_path / 'w.safetensors')}", device="cpu")
        assert encoder.embed_images([], progress=False).shape == (0, 64)
    else:
        assert load_encoder(spec).embed_dna([], progress=False).shape == (0, 256)


@pytest.mark.damaged_input
def test_specs_that_name_no_encoder(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="align has no embeddings"):
        load_encoder("align")
    with pytest.raises(EncoderError, match="timm:NAME"):
        load_encoder("timm:")
    with pytest.raises(ModelFolderError, match="model folder .*nowhere not found"):
        load_encoder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EncoderError, match="has no config.json: not a model folder"):
        load_encoder(tmp_path / "empty")
    with pytest.raises(ValueError, match="unknown DNA pooling 'avg'"):
        load_encoder(f"hf:{tiny_bert_dna(tmp_path / 'dna')}", pooling="avg")
