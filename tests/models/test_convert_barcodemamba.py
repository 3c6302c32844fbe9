"""Converting BarcodeMamba runs, built inside each test in the published layout (a Lightning `last.ckpt`
with `model.` prefixes, OmegaConf `hyper_parameters` and optimiser state; `.hydra/config.yaml` with its
unresolved interpolations). The converted model must give the hidden states and embeddings of the original
architecture, re-implemented below from utils/barcode_mamba.py of github.com/bioscan-ml/BarcodeMamba with
Mamba-2 written as its plain recurrence (not transformers' chunked scan), to float tolerance."""

from __future__ import annotations

import itertools
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from bioscan_hf.cli import main
from bioscan_hf.embedding import load_encoder
from bioscan_hf.models.barcodemamba import BarcodeMambaForCausalLM, BarcodeMambaModel, BarcodeMambaTokenizer
from bioscan_hf.models.barcodemamba.convert_barcodemamba import convert_barcodemamba
from bioscan_hf.models.checkpoints import ConversionError, load_torch_file

D_MODEL, N_LAYER, D_STATE, HEADDIM, EXPAND, D_CONV = 32, 2, 8, 16, 2, 4
BARCODES = ["ACGTTGCAAC" * 40 + "GGA", "ACGRTTNACG" * 20, "ACGT" * 200, "TTGACCA"]

CONFIG_YAML = """\
model:
  d_model: {d_model}
  n_layer: {n_layer}
  d_inner: ${{eval:4 * ${{.d_model}}}}
  vocab_size: ${{tokenizer.vocab_size}}
  resid_dropout: 0.0
  embed_dropout: 0.1
  residual_in_fp32: true
  pad_vocab_size_multiple: 8
  mamba_ver: {mamba_ver}
  layer:
    d_model: ${{model.d_model}}
    d_state: {d_state}
    d_conv: 4
    expand: 2
    headdim: {headdim}
  n_classes: null
tokenizer:
{tokenizer}
dataset:
  max_len: 660
  phase: {phase}
"""
CHAR_TOKENIZER = '  name: char\n  characters: ["A", "C", "G", "T", "N"]\n  padding_side: left\n  vocab_size: 8\n'
KMER_TOKENIZER = "  name: k-mer\n  k_mer: {k}\n  stride: ${{.k_mer}}\n  use_unk_token: true\n  padding_side: left\n"


# --- the original architecture, re-implemented ------------------------------------------------------------


class RefMamba2(nn.Module):
    """mamba_ssm's Mamba2 (ngroups=1, gated RMSNorm after the gate), computed step by step."""

    def __init__(self) -> None:
        super().__init__()
        self.d_ssm, self.nheads = EXPAND * D_MODEL, EXPAND * D_MODEL // HEADDIM
        conv_dim = self.d_ssm + 2 * D_STATE
        self.in_proj = nn.Linear(D_MODEL, 2 * self.d_ssm + 2 * D_STATE + self.nheads, bias=False)
        self.conv1d = nn.Conv1d(conv_dim, conv_dim, D_CONV, groups=conv_dim, padding=D_CONV - 1)
        self.dt_bias = nn.Parameter(torch.randn(self.nheads) * 0.5 - 2)
        self.A_log = nn.Parameter(torch.log(torch.rand(self.nheads) * 15 + 1))
        self.D = nn.Parameter(torch.randn(self.nheads))
        self.norm = nn.Module()
        self.norm.weight = nn.Parameter(1 + 0.1 * torch.randn(self.d_ssm))
        self.out_proj = nn.Linear(self.d_ssm, D_MODEL, bias=False)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        batch, length, _ = u.shape
        z, xbc, dt = self.in_proj(u).split([self.d_ssm, self.d_ssm + 2 * D_STATE, self.nheads], dim=-1)
        xbc = F.silu(self.conv1d(xbc.transpose(1, 2))[..., :length].transpose(1, 2))
        x, b, c = xbc.split([self.d_ssm, D_STATE, D_STATE], dim=-1)
        x = x.reshape(batch, length, self.nheads, HEADDIM)
        dt = F.softplus(dt + self.dt_bias)
        a = -torch.exp(self.A_log)
        h = torch.zeros(batch, self.nheads, HEADDIM, D_STATE)
        ys = []
        for t in range(length):
            decay = torch.exp(dt[:, t] * a)[:, :, None, None]
            h = decay * h + (dt[:, t, :, None, None] * x[:, t, :, :, None]) * b[:, t, None, None, :]
            ys.append((h * c[:, t, None, None, :]).sum(-1) + self.D[None, :, None] * x[:, t])
        y = torch.stack(ys, dim=1).reshape(batch, length, self.d_ssm) * F.silu(z)
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + 1e-5) * self.norm.weight
        return self.out_proj(y)


class RefMlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(D_MODEL, 4 * D_MODEL), nn.Linear(4 * D_MODEL, D_MODEL)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class RefBlock(nn.Module):
    """flash-attn's prenorm Block as BarcodeMamba builds it (residual carried in float32)."""

    def __init__(self) -> None:
        super().__init__()
        self.mixer, self.mlp = RefMamba2(), RefMlp()
        self.norm1, self.norm2 = nn.LayerNorm(D_MODEL), nn.LayerNorm(D_MODEL)
        for norm in (self.norm1, self.norm2):
            nn.init.normal_(norm.weight, 1.0, 0.1)
            nn.init.normal_(norm.bias, 0.0, 0.1)

    def forward(self, hidden, residual):
        residual = hidden + residual if residual is not None else hidden
        hidden = self.mixer(self.norm1(residual))
        residual = hidden + residual
        return self.mlp(self.norm2(residual)), residual


class RefBackbone(nn.Module):
    def __init__(self, vocab_rows: int) -> None:
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(vocab_rows, D_MODEL)
        self.layers = nn.ModuleList(RefBlock() for _ in range(N_LAYER))
        self.ln_f = nn.LayerNorm(D_MODEL)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden, residual = self.embeddings.word_embeddings(ids), None
        for layer in self.layers:
            hidden, residual = layer(hidden, residual)
        return self.ln_f(hidden + residual)


class RefBarcodeMamba(nn.Module):
    def __init__(self, vocab_rows: int, finetune: bool = False) -> None:
        super().__init__()
        self.backbone = RefBackbone(vocab_rows)
        if finetune:  # their SequenceDecoder's linear layer
            self.head = nn.Module()
            self.head.output_transform = nn.Linear(D_MODEL, 5)
        else:
            self.head = nn.Linear(D_MODEL, vocab_rows, bias=False)


def their_ids(barcode: str, k: int | None) -> list[int]:
    """Their tokenizers: cut at 660 or left-pad with N to 660; characters or stride-k k-mers; [UNK] else."""
    x = barcode[:660] if len(barcode) > 660 else "N" * (660 - len(barcode)) + barcode
    if k is None:
        vocab = {ch: i + 3 for i, ch in enumerate("ACGTN")}
        return [vocab.get(ch, 2) for ch in x]
    vocab = {"".join(p): i + 3 for i, p in enumerate(itertools.product("ACGT", repeat=k))}
    return [vocab.get(x[i : i + k], 2) for i in range(0, len(x) - k + 1, k)]


def _write_run(tmp_path: Path, k: int | None = None, finetune: bool = False, yaml: bool = True, **over) -> tuple:
    """A published run folder: .hydra/config.yaml and checkpoints/last.ckpt (Lightning layout)."""
    torch.manual_seed(0)
    rows = 8 if k is None else math.ceil((4**k + 3) / 8) * 8
    original = RefBarcodeMamba(rows, finetune).eval()
    run = tmp_path / "BarcodeMamba-run"
    (run / "checkpoints").mkdir(parents=True)
    if yaml:
        (run / ".hydra").mkdir()
        fields = {"d_model": D_MODEL, "n_layer": N_LAYER, "d_state": D_STATE, "headdim": HEADDIM}
        fields |= {"mamba_ver": "mamba2", "phase": "finetune" if finetune else "pretrain"} | over
        fields["tokenizer"] = CHAR_TOKENIZER if k is None else KMER_TOKENIZER.format(k=k)
        (run / ".hydra" / "config.yaml").write_text(CONFIG_YAML.format(**fields))
    omegaconf = types.ModuleType("omegaconf_not_installed")  # the file names a class the reader lacks
    omegaconf.DictConfig = type("DictConfig", (), {"__module__": "omegaconf_not_installed"})
    sys.modules["omegaconf_not_installed"] = omegaconf
    try:
        hyper = omegaconf.DictConfig()
        hyper.content = {"model": {"d_model": D_MODEL}}
        optimizer = torch.optim.AdamW(original.parameters())
        torch.save(
            {
                "epoch": 49,
                "global_step": 1000,
                "pytorch-lightning_version": "2.2.1",
                "state_dict": {f"model.{key}": value for key, value in original.state_dict().items()},
                "optimizer_states": [optimizer.state_dict()],
                "hyper_parameters": hyper,
            },
            run / "checkpoints" / "last.ckpt",
        )
    finally:
        del sys.modules["omegaconf_not_installed"]
    return original, run / "checkpoints" / "last.ckpt"


def _their_hidden(original: RefBarcodeMamba, ids: list[list[int]]) -> torch.Tensor:
    with torch.no_grad():
        return original.backbone(torch.tensor(ids))


@pytest.mark.parametrize("k", [None, 4])
def test_published_run_gives_their_hidden_states_and_embeddings(tmp_path: Path, k: int | None) -> None:
    original, checkpoint = _write_run(tmp_path, k)
    report = convert_barcodemamba(checkpoint, tmp_path / "ours")
    assert report["target"] == "BarcodeMambaForCausalLM" and report["assumed"] == []
    assert report["config_file"].endswith(".hydra/config.yaml")
    assert report["release"] == f"BarcodeMamba dim32-layer2-{'char' if k is None else '4-mer'} (pretrain)"
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "ours")
    assert isinstance(tokenizer, BarcodeMambaTokenizer)
    ids = [their_ids(b, k) for b in BARCODES]
    assert tokenizer(BARCODES)["input_ids"] == ids
    model = AutoModel.from_pretrained(tmp_path / "ours").eval()
    assert isinstance(model, BarcodeMambaModel)
    expected = _their_hidden(original, ids)
    with torch.no_grad():
        got = model(input_ids=torch.tensor(ids)).last_hidden_state
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    vectors = load_encoder(str(tmp_path / "ours")).embed_dna(BARCODES, progress=False)
    np.testing.assert_allclose(vectors, expected.mean(1).numpy(), rtol=1e-4, atol=1e-4)  # their probing pooling
    lm = BarcodeMambaForCausalLM.from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        torch.testing.assert_close(lm(torch.tensor(ids[:1])).logits, original.head(expected[:1]), rtol=1e-4, atol=1e-4)


def test_without_config_yaml_the_weights_decide_and_the_report_says_what_was_assumed(tmp_path: Path) -> None:
    original, checkpoint = _write_run(tmp_path, k=4, yaml=False)
    report = convert_barcodemamba(checkpoint, tmp_path / "ours")
    assert report["config_file"] is None and report["tokenizer"] == "4-mers"
    assert any("one group" in note for note in report["assumed"])
    assert any("from the vocabulary size" in note for note in report["assumed"])
    ids = [their_ids(b, 4) for b in BARCODES[:2]]
    with torch.no_grad():
        got = AutoModel.from_pretrained(tmp_path / "ours")(input_ids=torch.tensor(ids)).last_hidden_state
    torch.testing.assert_close(got, _their_hidden(original, ids), rtol=1e-4, atol=1e-4)


def test_finetuned_run_keeps_its_classifier(tmp_path: Path) -> None:
    original, checkpoint = _write_run(tmp_path, finetune=True)
    report = convert_barcodemamba(checkpoint, tmp_path / "ours")
    assert report["target"] == "BarcodeMambaForSequenceClassification"
    assert any("class names: not in the checkpoint" in note for note in report["assumed"])
    ids = torch.tensor([their_ids(b, None) for b in BARCODES[:2]])
    expected = original.head.output_transform(_their_hidden(original, ids.tolist()).mean(1))  # SequenceDecoder "pool"
    classifier = AutoModelForSequenceClassification.from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        torch.testing.assert_close(classifier(input_ids=ids).logits, expected, rtol=1e-4, atol=1e-4)
        got = AutoModel.from_pretrained(tmp_path / "ours")(input_ids=ids).last_hidden_state
    torch.testing.assert_close(got, _their_hidden(original, ids.tolist()), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("foreign_key", r"cannot map 1 key\(s\) onto BarcodeMamba: ema.shadow"),
        ("missing_weight", "no BarcodeMamba weight 'backbone.layers.0.mixer.A_log'"),
        ("yaml_disagrees", "config.yaml says d_model=64, the weights 32"),
        ("mamba1", "only Mamba-2 runs"),
        ("not_yaml", "not readable YAML"),
    ],
)
def test_damaged_or_foreign_runs_are_refused_with_what_is_wrong(tmp_path: Path, damage: str, message: str) -> None:
    over = {"d_model": 64} if damage == "yaml_disagrees" else {"mamba_ver": "mamba"} if damage == "mamba1" else {}
    _, checkpoint = _write_run(tmp_path, **over)
    if damage in ("foreign_key", "missing_weight"):
        payload = load_torch_file(checkpoint)
        del payload["hyper_parameters"]  # a stand-in now: not for saving again
        if damage == "foreign_key":
            payload["state_dict"]["ema.shadow"] = torch.zeros(1)
        else:
            del payload["state_dict"]["model.backbone.layers.0.mixer.A_log"]
        torch.save(payload, checkpoint)
    if damage == "not_yaml":
        (checkpoint.parent.parent / ".hydra" / "config.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConversionError, match=message):
        convert_barcodemamba(checkpoint, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _, checkpoint = _write_run(tmp_path, k=4, yaml=False)
    assert main(["convert-barcodemamba", str(checkpoint), "--out", str(tmp_path / "ours")]) == 0
    printed = capsys.readouterr().out
    assert "BarcodeMamba dim32-layer2-4-mer (pretrain): BarcodeMambaForCausalLM" in printed
    assert "assumed (not in the run's files): one group of B/C" in printed and "the weights alone" in printed
    assert main(["convert-barcodemamba", str(tmp_path / "missing.ckpt"), "--out", str(tmp_path / "x")]) != 0
    assert "missing.ckpt: no such checkpoint file" in capsys.readouterr().err


def test_tokenizer_refuses_what_is_not_a_barcode_unless_told() -> None:
    tokenizer = BarcodeMambaTokenizer()
    with pytest.raises(ValueError, match="not DNA: '!' at position 4.*strict=False"):
        tokenizer("ACGT!ACGT")
    with pytest.raises(ValueError, match="empty barcode"):
        tokenizer("--NNRY")
    assert BarcodeMambaTokenizer(strict=False)("ACGT!")["input_ids"][-5:] == [3, 4, 5, 6, 2]
