"""Converting the published CLIBD: a random state dict in the original SimpleCLIP layout (tiny dimensions),
features computed by an independent reference written here (base weights + the authors' unmerged LoRA,
their pooling, their input pipelines), and the converted folder's features required equal per tower."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from torch import nn
from torchvision import transforms
from transformers import AutoModel, AutoProcessor, BertConfig, BertForMaskedLM, BertModel, BertTokenizerFast
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging as transformers_logging

from bioscan_hf.cli import main
from bioscan_hf.embedding.clibd import ClibdEncoder
from bioscan_hf.models.checkpoints import ConversionError
from bioscan_hf.models.clibd import ClibdImageProcessor
from bioscan_hf.models.clibd.convert_clibd import convert_clibd

PROJECTION = 24
K = 5
WORDS = ["diptera", "phoridae", "megaselia", "scalaris", "cecidomyiidae", "lepidoptera"]


class OriginalLoRAQKV(nn.Module):
    """The authors' `_LoRA_qkv_timm`: B·A·x added to the query and value thirds of timm's fused qkv."""

    def __init__(self, qkv: nn.Linear, rank: int) -> None:
        super().__init__()
        dim = qkv.in_features
        self.qkv = qkv
        self.linear_a_q, self.linear_b_q = nn.Linear(dim, rank, bias=False), nn.Linear(rank, dim, bias=False)
        self.linear_a_v, self.linear_b_v = nn.Linear(dim, rank, bias=False), nn.Linear(rank, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = self.qkv.in_features
        qkv = self.qkv(x)
        q = qkv[..., :dim] + self.linear_b_q(self.linear_a_q(x))
        v = qkv[..., 2 * dim :] + self.linear_b_v(self.linear_a_v(x))
        return torch.cat([q, qkv[..., dim : 2 * dim], v], dim=-1)


class OriginalLoRALinear(nn.Module):
    """The authors' `_LoRALayer` on BERT's query/value: w(x) + w_b(w_a(x))."""

    def __init__(self, w: nn.Linear, rank: int) -> None:
        super().__init__()
        self.w = w
        self.w_a, self.w_b = nn.Linear(w.in_features, rank, bias=False), nn.Linear(rank, w.out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w(x) + self.w_b(self.w_a(x))


def _lora_bert(encoder: nn.Module, rank: int) -> None:
    for layer in encoder.layer:
        layer.attention.self.query = OriginalLoRALinear(layer.attention.self.query, rank)
        layer.attention.self.value = OriginalLoRALinear(layer.attention.self.value, rank)


class OriginalImageEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        vit = timm.create_model(
            "vit_base_patch16_224", pretrained=False, img_size=32, patch_size=8, embed_dim=128, depth=2, num_heads=2
        )
        for block in vit.blocks:  # the authors' code wraps every block, LoRA run or not
            block.attn.qkv = OriginalLoRAQKV(block.attn.qkv, rank=4)
        vit.reset_classifier(num_classes=PROJECTION)
        self.base_image_encoder = vit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base_image_encoder(x)


class OriginalDNAEncoder(nn.Module):
    def __init__(self, lora: bool) -> None:
        super().__init__()
        config = BertConfig(
            vocab_size=4**K + 3, hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256
        )
        bert = BertForMaskedLM(config)
        if lora:
            _lora_bert(bert.bert.encoder, rank=4)
        bert.cls.predictions.decoder = nn.Linear(128, PROJECTION)
        self.base_dna_encoder = bert

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # no attention mask, as published
        return self.base_dna_encoder(ids).logits.softmax(dim=-1).mean(dim=1)


class OriginalLanguageEncoder(nn.Module):
    def __init__(self, lora: bool) -> None:
        super().__init__()
        config = BertConfig(
            vocab_size=5 + len(WORDS),
            hidden_size=128,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=256,
        )
        self.base_language_encoder = BertModel(config)  # with its (unused) pooler
        if lora:
            _lora_bert(self.base_language_encoder.encoder, rank=4)
        self.proj = nn.Linear(128, PROJECTION)

    def forward(self, tokens: dict) -> torch.Tensor:
        return self.proj(self.base_language_encoder(**tokens).last_hidden_state.mean(dim=1))


class OriginalSimpleCLIP(nn.Module):
    def __init__(self, lora: bool, text: bool = True) -> None:
        super().__init__()
        self.image_encoder = OriginalImageEncoder()
        self.dna_encoder = OriginalDNAEncoder(lora)
        self.language_encoder = OriginalLanguageEncoder(lora) if text else None
        self.logit_scale = nn.Parameter(torch.tensor(2.5))


def _randomised(model: nn.Module) -> nn.Module:
    """Every weight drawn at random (LoRA's B starts at zero in the original: non-zero here, so a wrong merge shows)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.2)
    return model.eval()


def original_dna_ids(sequence: str) -> list[int]:
    """`get_sequence_pipeline`: pad with N to 660 (or cut), 5-mers at stride 5, <MASK> <CLS> <UNK> then the
    k-mers (anything else <UNK>), and a leading 0."""
    vocab = {"".join(p): i + 3 for i, p in enumerate(itertools.product("ACGT", repeat=K))}
    padded = sequence[:660] + "N" * max(0, 660 - len(sequence))
    return [0] + [vocab.get(padded[i : i + K], 2) for i in range(0, len(padded) - K + 1, K)]


def _text_tokenizer(folder: Path) -> BertTokenizerFast:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(folder)
    return tokenizer


def _save_original(model: OriginalSimpleCLIP, path: Path, old_names: bool = False) -> Path:
    """The checkpoint as the release holds it: DDP's `module.` prefix, the MLM head's vocabulary bias and
    the position-id buffers of the transformers version it was trained with; optionally the old names."""
    state = dict(model.state_dict())
    state["dna_encoder.base_dna_encoder.cls.predictions.bias"] = torch.zeros(4**K + 3)
    state["dna_encoder.base_dna_encoder.bert.embeddings.position_ids"] = torch.arange(512)[None]
    if old_names:
        state = {
            k.replace("base_image_encoder", "lora_vit").replace("base_dna_encoder", "lora_barcode_bert"): v
            for k, v in state.items()
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({f"module.{k}": v for k, v in state.items()}, path)
    return path


BARCODES = ["ACGTACGTTTGAACGATTAC" * 3, "AACGTRYACGTTGCANNNACGGT", "ACGT" * 200, "TTTAAACCCGGG"]
TEXTS = ["Diptera Phoridae Megaselia scalaris", "Diptera Cecidomyiidae", "Lepidoptera"]


def _photos(tmp_path: Path) -> list[Image.Image]:
    shared = sorted((Path(__file__).resolve().parents[3] / "shared" / "data" / "images" / "cropped_256").glob("*"))
    if shared:
        return [Image.open(p).convert("RGB") for p in shared[:2]]
    return [Image.new("RGB", (341, 256), (200, 180, 160)), Image.new("RGB", (256, 300), (20, 90, 60))]


@pytest.mark.parametrize("lora", [True, False], ids=["lora-run", "full-fine-tuning-run"])
def test_each_tower_matches_the_original(tmp_path: Path, lora: bool) -> None:
    original = _randomised(OriginalSimpleCLIP(lora=lora))
    path = tmp_path / "ckpt/bioscan_clip/v1/bioscan_5m/image_dna_text_4gpu/best.pth"
    _save_original(original, path, old_names=lora)
    tokenizer = _text_tokenizer(tmp_path / "bert-small")
    report = convert_clibd(path, tmp_path / "ours", text_tokenizer=tmp_path / "bert-small")
    assert report["towers"] == ["image", "dna", "text"] and report["lora_merged"] == (
        ["image", "dna", "text"] if lora else ["image"]
    )
    assert report["release"] == "bioscan-ml/clibd:v1/bioscan_5m/image_dna_text_4gpu"
    assert any("cls.predictions.bias" in key for key in report["dropped_keys"])
    assert any("pooler.dense.weight" in key for key in report["dropped_keys"])

    model = AutoModel.from_pretrained(tmp_path / "ours").eval()
    auto = transformers_logging.get_logger("transformers.models.auto.image_processing_auto")
    with CaptureLogger(auto) as said:
        processor = AutoProcessor.from_pretrained(tmp_path / "ours")
    assert "backend" not in said.out  # no "Requested torchvision backend is not available" on loading
    photos = _photos(tmp_path)
    batch = processor(photos + [None, None], BARCODES, TEXTS + [None])
    # the inputs are the original pipelines' own
    assert batch["dna_input_ids"].tolist() == [original_dna_ids(b) for b in BARCODES]
    reference_text = tokenizer(TEXTS, padding="max_length", max_length=20, truncation=True, return_tensors="pt")
    assert torch.equal(batch["text_input_ids"][:3], reference_text["input_ids"])
    original_eval = transforms.Compose(
        [transforms.ToTensor(), transforms.Resize(36, antialias=True), transforms.CenterCrop(32)]
    )
    torch.testing.assert_close(batch["pixel_values"][:2], torch.stack([original_eval(p) for p in photos]))

    with torch.no_grad():
        out = model(**batch)
        pixels = batch["pixel_values"][:2]
        expected = {
            "image": nn.functional.normalize(original.image_encoder(pixels), dim=-1),
            "dna": nn.functional.normalize(
                original.dna_encoder(torch.tensor([original_dna_ids(b) for b in BARCODES])), dim=-1
            ),
            "text": nn.functional.normalize(original.language_encoder(dict(reference_text)), dim=-1),
        }
    torch.testing.assert_close(out.image_embeds[:2], expected["image"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.dna_embeds, expected["dna"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.text_embeds[:3], expected["text"], rtol=1e-4, atol=1e-5)
    assert out.logit_scale.item() == pytest.approx(torch.exp(original.logit_scale).item(), rel=1e-6)
    # the embedding layer (evaluate, index, identify, the Space) reads the converted folder the same way
    encoder = ClibdEncoder(tmp_path / "ours")
    np.testing.assert_allclose(encoder.embed_dna(BARCODES, progress=False), expected["dna"].numpy(), atol=1e-5)
    np.testing.assert_allclose(encoder.embed_images(photos, progress=False), expected["image"].numpy(), atol=1e-5)


def test_the_published_image_transform_is_reproduced() -> None:
    """At the published size: resize the shorter side to 256 on the float tensor, centre crop 224, no normalisation."""
    original_eval = transforms.Compose(
        [transforms.ToTensor(), transforms.Resize(256, antialias=True), transforms.CenterCrop(224)]
    )
    ours = ClibdImageProcessor(crop_size=224, resize_size=256, do_normalize=False)
    for photo in _photos(Path(".")):
        torch.testing.assert_close(ours(photo)["pixel_values"][0], original_eval(photo), rtol=0, atol=0)


def test_image_dna_run_without_text_tower(tmp_path: Path) -> None:
    original = _randomised(OriginalSimpleCLIP(lora=False, text=False))
    path = _save_original(original, tmp_path / "image_dna_seed_42.pth")
    report = convert_clibd(path, tmp_path / "ours")  # no text tokenizer needed (nothing downloaded)
    assert report["towers"] == ["image", "dna"]
    model = AutoModel.from_pretrained(tmp_path / "ours").eval()
    processor = AutoProcessor.from_pretrained(tmp_path / "ours")
    batch = processor(_photos(tmp_path), BARCODES[:2])
    with torch.no_grad():
        out = model(**batch)
        expected = nn.functional.normalize(
            original.dna_encoder(torch.tensor([original_dna_ids(b) for b in BARCODES[:2]])), dim=-1
        )
    torch.testing.assert_close(out.dna_embeds, expected, rtol=1e-4, atol=1e-5)
    assert out.logits_per_image.shape == (2, 2)
    with pytest.raises(ValueError, match="this CLIBD has no text tower"):
        model.get_text_features(torch.zeros(1, 3, dtype=torch.long))


@pytest.mark.damaged_input
def test_unsupported_and_damaged_checkpoints_are_named(tmp_path: Path) -> None:
    torch.save({"open_clip_model.visual.proj": torch.zeros(2), "dna_encoder.x": torch.zeros(1)}, tmp_path / "oc.pth")
    with pytest.raises(ConversionError, match="built on OpenCLIP/BioCLIP .* not supported yet"):
        convert_clibd(tmp_path / "oc.pth", tmp_path / "out")
    original = _randomised(OriginalSimpleCLIP(lora=False, text=False))
    state = dict(original.state_dict(), logit_bias=torch.tensor(-10.0))
    torch.save(state, tmp_path / "extra.pth")
    with pytest.raises(ConversionError, match=re.escape("cannot map 1 key(s) onto ClibdModel: logit_bias")):
        convert_clibd(tmp_path / "extra.pth", tmp_path / "out")
    del state["logit_bias"]
    del state["dna_encoder.base_dna_encoder.cls.predictions.decoder.bias"]
    torch.save(state, tmp_path / "truncated.pth")
    with pytest.raises(ConversionError, match="missing \\['dna_projection.bias'\\]"):
        convert_clibd(tmp_path / "truncated.pth", tmp_path / "out")


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    original = _randomised(OriginalSimpleCLIP(lora=True))
    path = _save_original(original, tmp_path / "best.pth")
    _text_tokenizer(tmp_path / "bert-small")
    code = main(
        ["convert-clibd", str(path), "--out", str(tmp_path / "ours"), "--text-tokenizer", str(tmp_path / "bert-small")]
    )
    printed = capsys.readouterr().out
    assert (
        code == 0
        and "CLIBD (image + dna + text)" in printed
        and "LoRA merged into the image + dna + text tower(s)" in printed
    )
    assert "cls.predictions.bias" in printed
    assert main(["convert-clibd", str(tmp_path / "missing.pth"), "--out", str(tmp_path / "x")]) != 0
