"""CLIBD: config defaults, CLIP-like features, the loss against a hand computation, missing modalities."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from helpers import TINY_CLIBD, run_without_package, tiny_clibd_folder
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoModel, BertConfig, BertModel

from bioscan_hf.models.barcodebert import BarcodeBertConfig, BarcodeBertForMaskedLM, KmerTokenizerFast
from bioscan_hf.models.clibd import ClibdConfig, ClibdModel, clibd_loss, info_nce
from bioscan_hf.models.clibd.modeling_clibd import create_image_tower, gather_with_grad

TINY = TINY_CLIBD


def test_defaults_follow_the_release() -> None:
    config = ClibdConfig()
    assert config.dna_config.k_mer == 5 and config.text_config.hidden_size == 512
    assert config.projection_dim == 768 and config.image_model == "vit_base_patch16_224"
    assert config.logit_scale_init_value == pytest.approx(math.log(1 / 0.07)) and config.logit_scale_max == 100


def test_info_nce_matches_a_hand_computation() -> None:
    a = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8]]), dim=-1)
    b = torch.nn.functional.normalize(torch.tensor([[0.8, 0.6], [0.0, 1.0]]), dim=-1)
    scale = torch.tensor(10.0)
    sims = (a @ b.t()).tolist()  # [[0.8, 0.0], [0.96, 0.8]]

    def xent(row: list[float], target: int) -> float:
        return -math.log(math.exp(10 * row[target]) / sum(math.exp(10 * v) for v in row))

    rows = sum(xent(sims[i], i) for i in range(2)) / 2
    cols = sum(xent([sims[j][i] for j in range(2)], i) for i in range(2)) / 2
    assert info_nce(a, b, scale).item() == pytest.approx((rows + cols) / 2, rel=1e-5)


def test_missing_modalities_leave_their_pairs() -> None:
    torch.manual_seed(1)
    feats = {m: torch.nn.functional.normalize(torch.randn(4, 8), dim=-1) for m in ("image", "dna", "text")}
    masks = {
        "image": torch.tensor([True, True, False, True]),
        "dna": torch.ones(4, dtype=torch.bool),
        "text": torch.ones(4, dtype=torch.bool),
    }
    loss, pairs = clibd_loss(feats, masks, torch.tensor(5.0))
    keep = masks["image"]
    assert pairs["image_dna"].item() == pytest.approx(
        info_nce(feats["image"][keep], feats["dna"][keep], torch.tensor(5.0)).item()
    )
    assert loss.item() == pytest.approx(sum(p.item() for p in pairs.values()) / 3)
    # a modality absent from the whole batch: the pairs without it still count (the absent pair is skipped,
    # not the end of the loop)
    for present in (("image", "text"), ("dna", "text")):
        _, only = clibd_loss({m: feats[m] for m in present}, masks, torch.tensor(5.0))
        assert set(only) == {"_".join(present)}
    with pytest.raises(ValueError, match="^a CLIBD batch needs at least two records sharing two modalities$"):
        clibd_loss(
            {"image": feats["image"], "dna": feats["dna"]},
            {"image": torch.tensor([True, False, False, False]), "dna": masks["dna"]},
            torch.tensor(5.0),
        )


def test_features_loss_and_round_trip(tmp_path: Path, tiny_clibd_inputs: dict) -> None:
    model = ClibdModel(ClibdConfig(**TINY)).eval()
    batch = tiny_clibd_inputs
    plain = model(**batch)  # as CLIP: no loss unless asked
    assert plain.loss is None and plain.pair_losses is None
    out = model(**batch, return_loss=True)
    scale = out.logit_scale
    torch.testing.assert_close(out.logits_per_image, scale * out.image_embeds @ out.dna_embeds.t())
    torch.testing.assert_close(out.logits_per_dna, out.logits_per_image.t())
    torch.testing.assert_close(out.logits_dna_text, scale * out.dna_embeds @ out.text_embeds.t())
    assert out.logits_image_text.shape == (3, 3) and model(pixel_values=batch["pixel_values"]).logits_per_image is None
    for name in ("image_embeds", "dna_embeds", "text_embeds"):
        norms = getattr(out, name).norm(dim=-1)
        torch.testing.assert_close(norms, torch.ones_like(norms))
    assert set(out.pair_losses) == {"image_dna", "image_text", "dna_text"}
    assert out.logit_scale.item() == pytest.approx(1 / 0.07, rel=1e-4)
    out.loss.backward()
    assert model.logit_scale.log_value.grad is not None and model.image_projection.weight.grad is not None
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, ClibdModel)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch, return_loss=True).loss, model(**batch, return_loss=True).loss)
        torch.testing.assert_close(
            loaded.get_dna_features(batch["dna_input_ids"], batch["dna_attention_mask"]), out.dna_embeds.detach()
        )


def test_processor_with_real_photos_and_missing_modalities() -> None:
    from PIL import Image

    from bioscan_hf.models.clibd.processing_clibd import (
        ClibdImageProcessor,
        ClibdProcessor,
        build_taxonomy_tokenizer,
        taxonomy_text,
    )

    photos = sorted((Path(__file__).resolve().parents[3] / "shared" / "data" / "images" / "cropped_256").glob("*"))
    image = Image.open(photos[0]) if photos else Image.new("RGB", (341, 256), (200, 180, 160))
    published = ClibdImageProcessor()
    assert published.transform(image).shape == (3, 224, 224)
    assert published.training_transform()(image).shape == (3, 224, 224)
    record = {"order": "Diptera", "family": "Phoridae", "genus": "Megaselia", "species": None}
    assert taxonomy_text(record) == "Diptera Phoridae Megaselia"
    text_tok = build_taxonomy_tokenizer(["Diptera", "Phoridae", "Megaselia", "Megaselia scalaris"])
    processor = ClibdProcessor(ClibdImageProcessor(crop_size=32), KmerTokenizerFast(k=4), text_tok)
    batch = processor(
        [image, None, image],
        ["ACGTACGTAAAT", "TTTTACGTACGG", None],
        [taxonomy_text(record), "Diptera", "Megaselia scalaris"],
    )
    assert batch["pixel_values"].shape == (3, 3, 32, 32)
    assert batch["image_mask"].tolist() == [True, False, True] and batch["dna_mask"].tolist() == [True, True, False]
    assert text_tok.unk_token_id not in batch["text_input_ids"][0].tolist()
    model = ClibdModel(ClibdConfig(**{**TINY, "text_config": {**TINY["text_config"], "vocab_size": len(text_tok)}}))
    out = model(**batch, return_loss=True)
    # only record 0 has both an image and a barcode: a one-record pair has no negatives and is skipped
    assert torch.isfinite(out.loss) and set(out.pair_losses) == {"image_text", "dna_text"}
    with pytest.raises(ValueError, match="1 images, 2 barcodes, 1 texts"):
        processor([image], ["ACGT", "ACGT"], ["Diptera"])


PAIR_NAMES = ("image", "dna", "text")


def _reference_info_nce(a: list[list[float]], b: list[list[float]], scale: float) -> float:
    """Symmetric InfoNCE in plain Python: rows (a → b) and columns (b → a) of the scaled similarities."""
    n = len(a)
    sims = [[scale * sum(x * y for x, y in zip(a[i], b[j])) for j in range(n)] for i in range(n)]

    def xent(logits: list[float], target: int) -> float:
        top = max(logits)
        return -(logits[target] - top - math.log(sum(math.exp(v - top) for v in logits)))

    rows = sum(xent(sims[i], i) for i in range(n)) / n
    cols = sum(xent([sims[j][i] for j in range(n)], i) for i in range(n)) / n
    return (rows + cols) / 2


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 7), st.integers(0, 10_000), st.floats(1.0, 50.0))
def test_clibd_loss_against_an_independent_implementation(n: int, seed: int, scale: float) -> None:
    generator = torch.Generator().manual_seed(seed)
    feats = {m: torch.nn.functional.normalize(torch.randn(n, 6, generator=generator), dim=-1) for m in PAIR_NAMES}
    masks = {m: torch.rand(n, generator=generator) > 0.3 for m in PAIR_NAMES}
    expected = {}
    for first, second in (("image", "dna"), ("image", "text"), ("dna", "text")):
        rows = [i for i in range(n) if masks[first][i] and masks[second][i]]
        if len(rows) >= 2:
            a, b = feats[first][rows].tolist(), feats[second][rows].tolist()
            expected[f"{first}_{second}"] = _reference_info_nce(a, b, scale)
    if not expected:
        with pytest.raises(ValueError, match="at least two records"):
            clibd_loss(feats, masks, torch.tensor(scale))
        return
    loss, pairs = clibd_loss(feats, masks, torch.tensor(scale))
    assert {k: v.item() for k, v in pairs.items()} == pytest.approx(expected, rel=1e-4, abs=1e-5)
    assert loss.item() == pytest.approx(sum(expected.values()) / len(expected), rel=1e-4, abs=1e-5)


def test_info_nce_is_not_one_sided() -> None:
    """Asymmetric similarities: the row (a → b) and column (b → a) terms differ, and both count."""
    a = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.7, 0.7, 0.1]]), dim=-1)
    b = torch.nn.functional.normalize(torch.tensor([[0.9, 0.1, 0.0], [0.5, 0.5, 0.7], [0.0, 0.2, 1.0]]), dim=-1)
    logits = 10 * a @ b.t()
    targets = torch.arange(3)
    rows = torch.nn.functional.cross_entropy(logits, targets).item()
    cols = torch.nn.functional.cross_entropy(logits.t(), targets).item()
    assert abs(rows - cols) > 0.1
    assert info_nce(a, b, torch.tensor(10.0)).item() == pytest.approx((rows + cols) / 2, rel=1e-5)


def test_saved_clibd_and_processor_load_without_the_package(tmp_path: Path) -> None:
    """A CLIBD folder is a Hub model of its own: model and processor load with trust_remote_code where
    bioscan_hf cannot be imported, and give the same features."""
    from PIL import Image

    from bioscan_hf.models.clibd import ClibdProcessor

    folder = tiny_clibd_folder(tmp_path / "clibd", seed=0)
    model = ClibdModel.from_pretrained(folder).eval()
    processor = ClibdProcessor.from_pretrained(folder)
    Image.new("RGB", (40, 30), (120, 200, 60)).save(tmp_path / "photo.png")
    batch = processor([Image.open(tmp_path / "photo.png")], ["ACGTACGTTTGA"], ["Diptera"])
    with torch.no_grad():
        out = model(**batch)
    torch.save({"image": out.image_embeds, "dna": out.dna_embeds, "text": out.text_embeds}, tmp_path / "expected.pt")
    result = run_without_package(f"""
        import sys, torch
        from PIL import Image
        from transformers import AutoModel, AutoProcessor
        model = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
        processor = AutoProcessor.from_pretrained({str(folder)!r}, trust_remote_code=True)
        batch = processor([Image.open({str(tmp_path / "photo.png")!r})], ["ACGTACGTTTGA"], ["Diptera"])
        expected = torch.load({str(tmp_path / "expected.pt")!r})
        with torch.no_grad():
            out = model(**batch)
        for name in ("image", "dna", "text"):
            torch.testing.assert_close(getattr(out, name + "_embeds"), expected[name])
        assert "bioscan_hf" not in sys.modules
        print(type(model).__module__, type(processor).__module__)
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("transformers_modules") == 2, result.stdout


def test_push_to_hub_uploads_the_loadable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`push_to_hub` / `save_pretrained(push_to_hub=True)` of the model and the processor upload folders that
    hold the module files (up to the network call: the upload is recorded, not sent)."""
    from types import SimpleNamespace

    from huggingface_hub import HfApi
    from transformers.utils import hub

    from bioscan_hf.models.clibd import ClibdProcessor

    uploads: list[tuple[str, set[str]]] = []

    def record(self, folder, repo_id, **_):
        uploads.append((repo_id, {str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file()}))

    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: SimpleNamespace(repo_id=repo_id))
    monkeypatch.setattr(hub, "create_and_tag_model_card", lambda *a, **kw: SimpleNamespace(save=lambda path: None))
    monkeypatch.setattr(hub.PushToHubMixin, "_upload_modified_files", record)
    folder = tiny_clibd_folder(tmp_path / "clibd")
    model, processor = ClibdModel.from_pretrained(folder), ClibdProcessor.from_pretrained(folder)
    model.push_to_hub("me/clibd")
    processor.save_pretrained(tmp_path / "local", push_to_hub=True, repo_id="me/clibd", commit_message="processor")
    model.save_pretrained(tmp_path / "sharded", push_to_hub=True, repo_id="me/clibd-2", max_shard_size="40KB")
    (model_repo, model_files), (processor_repo, processor_files), (saved_repo, saved_files) = uploads
    assert model_repo == processor_repo == "me/clibd" and saved_repo == "me/clibd-2"
    shards = {name for name in saved_files if name.startswith("model-")}  # max_shard_size reached the save
    assert len(shards) > 1 and len(list((tmp_path / "sharded").glob("model-*.safetensors"))) == len(shards)
    assert saved_files - shards == model_files - {"model.safetensors"} | {"model.safetensors.index.json"}
    modules = {"configuration_clibd.py", "modeling_clibd.py", "configuration_barcodebert.py", "modeling_barcodebert.py"}
    assert {"config.json", "model.safetensors", "remote_code.py", *modules} <= model_files
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_clibd.ClibdConfig",
        "AutoModel": "modeling_clibd.ClibdModel",
    }
    for name in modules:  # sibling-package imports made folder-local
        source = (folder / name).read_text()
        assert "from .." not in source and (name.startswith("configuration_barcodebert") or "from ." in source)
    assert {"processor_config.json", "processing_clibd.py", "tokenization_barcodebert.py"} <= processor_files
    assert (
        "dna_tokenizer/tokenizer.json" in processor_files and (tmp_path / "local" / "processor_config.json").is_file()
    )


@pytest.mark.parametrize(
    "pooling",
    [{}, {"dna_pooling": "softmax_mean"}],
    ids=["masked-mean", "softmax-mean-with-mask"],
)
def test_padding_never_changes_an_embedding(pooling: dict) -> None:
    """With the attention masks honoured (SPEC §4), a barcode or a text embeds the same alone and beside a
    longer one; the published CLIBD's averaging over padding is the switch that breaks this, on purpose."""
    from bioscan_hf.models.clibd.processing_clibd import build_taxonomy_tokenizer

    torch.manual_seed(0)
    text_tok = build_taxonomy_tokenizer(["Diptera Phoridae Megaselia scalaris"])
    config = {**TINY, **pooling, "text_config": {**TINY["text_config"], "vocab_size": len(text_tok)}}
    model = ClibdModel(ClibdConfig(**config)).eval()
    dna_tok = KmerTokenizerFast(k=4)
    barcodes, texts = ["ACGTACGTTTGA", "ACGTACGTTTGAACGGATTACCAGT" * 3], ["Diptera", "Diptera Phoridae Megaselia"]
    with torch.no_grad():
        both = model.get_dna_features(**_renamed(dna_tok(barcodes, padding=True, return_tensors="pt")))
        alone = model.get_dna_features(**_renamed(dna_tok(barcodes[:1], return_tensors="pt")))
        torch.testing.assert_close(both[:1], alone, rtol=1e-5, atol=1e-6)
        both = model.get_text_features(**_renamed(text_tok(texts, padding=True, return_tensors="pt")))
        alone = model.get_text_features(**_renamed(text_tok(texts[:1], return_tensors="pt")))
        torch.testing.assert_close(both[:1], alone, rtol=1e-5, atol=1e-6)
        model.config.text_pooling = "mean"  # the published switch: padding now counts
        assert not torch.allclose(
            model.get_text_features(**_renamed(text_tok(texts, padding=True, return_tensors="pt")))[:1], alone
        )


def _renamed(encoding) -> dict:
    return {"input_ids": encoding["input_ids"], "attention_mask": encoding["attention_mask"]}


def test_projections_and_two_modality_batches() -> None:
    """Our projections: no bias, drawn with std `initializer_range`; the published layout has biases. A batch
    of two modalities without masks still gets its loss."""
    torch.manual_seed(0)
    wide = {**TINY, "projection_dim": 256}
    ours, published = ClibdModel(ClibdConfig(**wide)), ClibdModel(ClibdConfig(**wide, projection_bias=True))
    for name in ("image_projection", "dna_projection", "text_projection"):
        assert getattr(ours, name).bias is None
        assert getattr(published, name).bias is not None and not getattr(published, name).bias.any()
        assert getattr(ours, name).weight.std().item() == pytest.approx(0.02, rel=0.1)
    pixels = torch.rand(3, 3, 32, 32)
    dna = KmerTokenizerFast(k=4)(["ACGTACGT", "TTTTGGGGCC", "ACGGA"], padding=True, return_tensors="pt")
    out = ours(
        pixel_values=pixels, dna_input_ids=dna["input_ids"], dna_attention_mask=dna["attention_mask"], return_loss=True
    )
    assert set(out.pair_losses) == {"image_dna"} and torch.isfinite(out.loss)
    image_dna = ClibdModel(ClibdConfig(**TINY, towers=["image", "dna"]))
    assert image_dna.text_model is None and image_dna.text_projection is None
    with pytest.raises(ValueError, match=r"^this CLIBD has no text tower \(it was trained on image \+ dna\); leave"):
        image_dna.get_text_features(torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="towers must be at least two of image, dna, text"):
        ClibdConfig(**TINY, towers=["image"])


@pytest.mark.damaged_input
def test_a_processor_saved_by_an_earlier_version_gets_the_fix(tmp_path: Path) -> None:
    """Before the processor became a ProcessorMixin its processor_config.json held only the image size: the
    error prints the line that re-saves it, and that line works."""
    import shutil
    import subprocess
    import sys

    from bioscan_hf.models.clibd import ClibdProcessor

    folder = tiny_clibd_folder(tmp_path / "old")
    (folder / "processor_config.json").write_text('{"image_size": 32}\n')
    with pytest.raises(OSError, match="saved by an earlier bioscan-hf; re-save it once with") as error:
        ClibdProcessor.from_pretrained(folder)
    fix = str(error.value).split("\n", 1)[1].strip()
    shutil.rmtree(folder / "dna_tokenizer" / "__pycache__", ignore_errors=True)
    subprocess.run([sys.executable, "-c", fix], check=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert ClibdProcessor.from_pretrained(folder).image_size == 32


def test_towers_start_from_local_checkpoints(tmp_path: Path) -> None:
    import timm
    from safetensors.torch import save_file

    dna = BarcodeBertForMaskedLM(BarcodeBertConfig(k_mer=4, hidden_size=32, num_hidden_layers=1, num_attention_heads=2))
    dna.save_pretrained(tmp_path / "dna")
    text = BertModel(BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=1, num_attention_heads=2))
    text.save_pretrained(tmp_path / "text")
    vit = timm.create_model(TINY["image_model"], num_classes=5, img_size=32, **TINY["image_model_kwargs"])
    save_file(vit.state_dict(), tmp_path / "vit.safetensors")
    config = ClibdConfig(**{k: v for k, v in TINY.items() if not k.endswith("_config")})
    model = ClibdModel.from_towers(config, tmp_path / "vit.safetensors", tmp_path / "dna", tmp_path / "text")
    torch.testing.assert_close(
        model.dna_model.embeddings.word_embeddings.weight, dna.bert.embeddings.word_embeddings.weight
    )
    torch.testing.assert_close(
        model.text_model.encoder.layer[0].attention.self.query.weight, text.encoder.layer[0].attention.self.query.weight
    )
    torch.testing.assert_close(model.image_model.blocks[0].attn.qkv.weight, vit.blocks[0].attn.qkv.weight)
    assert model.config.dna_config.hidden_size == 32 and model.config.text_config.vocab_size == 60
    missing = tmp_path / "missing.pth"
    message = rf"^image checkpoint {missing} is not a file \(\.safetensors, \.pth or \.bin\)$"
    with pytest.raises(FileNotFoundError, match=message):
        ClibdModel.from_towers(config, missing)


def test_towers_keep_their_libraries_initialisation() -> None:
    """CLIBD initialises its projections and temperature only: a fresh image tower is the one timm draws."""
    config = ClibdConfig(**TINY)
    torch.manual_seed(3)
    alone = create_image_tower(config).state_dict()
    torch.manual_seed(3)
    inside = ClibdModel(config).image_model.state_dict()
    assert alone.keys() == inside.keys()
    for name, tensor in alone.items():
        torch.testing.assert_close(inside[name], tensor, rtol=0, atol=0, msg=name)


def test_gather_concatenates_every_process_in_rank_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """The decision and the layout of `gather_with_grad` (the collective itself runs in the 2-process tests)."""
    import torch.distributed as dist
    import torch.distributed.nn.functional as dist_functional

    features = torch.arange(6.0).reshape(3, 2)
    assert gather_with_grad(features) is features  # no process group
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda: 1)
    assert gather_with_grad(features) is features
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(dist_functional, "all_gather", lambda tensor: (tensor, tensor + 100))
    assert gather_with_grad(features).tolist() == [*features.tolist(), *(features + 100).tolist()]
