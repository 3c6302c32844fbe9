"""Helpers shared by tests (importable as `helpers`: pytest puts tests/ on the path)."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas

#: A CLIBD small enough to run in a test in well under a second.
TINY_CLIBD = {
    "image_model": "vit_tiny_patch16_224",
    "image_model_kwargs": {"depth": 2, "embed_dim": 32, "num_heads": 2, "patch_size": 8},
    "image_size": 32,
    "projection_dim": 16,
    "dna_config": {"k_mer": 4, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2},
    "text_config": {"vocab_size": 60, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2},
}


#: `bioscan-hf pretrain` options for a BarcodeBERT that trains in seconds.
TINY_PRETRAIN_OPTIONS = ["--k", "4", "--hidden-size", "32", "--layers", "1", "--heads", "2"]


def tiny_clibd_folder(folder: Path, seed: int | None = None) -> Path:
    """A saved `TINY_CLIBD` with its processor (k=4 barcodes, 32-px images), random weights (`seed`)."""
    import torch

    from bioscan_hf.models.barcodebert import KmerTokenizerFast
    from bioscan_hf.models.clibd import ClibdConfig, ClibdModel
    from bioscan_hf.models.clibd.processing_clibd import ClibdImageProcessor, ClibdProcessor, build_taxonomy_tokenizer

    if seed is not None:
        torch.manual_seed(seed)
    ClibdModel(ClibdConfig(**TINY_CLIBD)).save_pretrained(folder)
    text_tokenizer = build_taxonomy_tokenizer(["Diptera"])
    ClibdProcessor(ClibdImageProcessor(crop_size=32), KmerTokenizerFast(k=4), text_tokenizer).save_pretrained(folder)
    return folder


def accelerate_two_processes(*command: str, program: str | None = None) -> list[str]:
    """`accelerate launch` of a `bioscan-hf` sub-command (or of the Python script `program`) in 2 processes;
    without GPUs `--multi_gpu` starts torch.distributed processes that train on the CPU (gloo)."""
    bin_dir = Path(sys.executable).parent
    with socket.socket() as probe:  # a free rendezvous port: two such runs may overlap under pytest-xdist
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launch = ["launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--main_process_port", str(port)]
    options = ["--mixed_precision", "no", "--dynamo_backend", "no"]
    return [str(bin_dir / "accelerate"), *launch, *options, program or str(bin_dir / "bioscan-hf"), *command]


#: Base-level WordPiece vocabulary: "ACGT" → A ##C ##G ##T (a DNABERT-style tokenizer in miniature).
DNA_WORDPIECE = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"ACGTN", *(f"##{b}" for b in "ACGTN")]


def tiny_dna_tokenizer(folder: Path, max_length: int = 64) -> None:
    """A BERT WordPiece tokenizer over single bases, saved into `folder`."""
    from transformers import BertTokenizerFast

    vocab = {token: i for i, token in enumerate(DNA_WORDPIECE)}
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=False, model_max_length=max_length)
    assert tokenizer.tokenize("ACGT") == ["A", "##C", "##G", "##T"]
    tokenizer.save_pretrained(folder)


def tiny_bert_dna(folder: Path, max_length: int = 64) -> Path:
    """A BertModel folder standing in for a DNABERT-style DNA model (random weights, no dropout)."""
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=len(DNA_WORDPIECE),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=max_length,
    )
    BertModel(config).save_pretrained(folder)
    tiny_dna_tokenizer(folder, max_length)
    return folder


REMOTE_CONFIG = """
from transformers import PretrainedConfig


class TinyDnaConfig(PretrainedConfig):
    model_type = "tinydna"

    def __init__(self, vocab_size=20, hidden_size=12, **kwargs):
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        super().__init__(**kwargs)
"""

REMOTE_MODEL = """
import torch
from transformers import PreTrainedModel

from .configuration_tinydna import TinyDnaConfig


class TinyDnaModel(PreTrainedModel):
    config_class = TinyDnaConfig

    def __init__(self, config):
        super().__init__(config)
        self.embed = torch.nn.Embedding(config.vocab_size, config.hidden_size)
        self.mix = torch.nn.Linear(config.hidden_size, config.hidden_size)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, **kwargs):
        hidden = torch.tanh(self.mix(self.embed(input_ids)))
        return hidden, hidden[:, 0]  # a tuple, as DNABERT-2's remote code returns
"""


def tiny_remote_code_dna(folder: Path) -> Path:
    """A model folder whose architecture exists only as code inside it (loads with trust_remote_code)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "configuration_tinydna.py").write_text(REMOTE_CONFIG)
    (folder / "modeling_tinydna.py").write_text(REMOTE_MODEL)
    config = {
        "model_type": "tinydna",
        "vocab_size": len(DNA_WORDPIECE),
        "hidden_size": 12,
        "auto_map": {
            "AutoConfig": "configuration_tinydna.TinyDnaConfig",
            "AutoModel": "modeling_tinydna.TinyDnaModel",
        },
    }
    (folder / "config.json").write_text(json.dumps(config))
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(0)
    weights = {
        "embed.weight": torch.randn(len(DNA_WORDPIECE), 12, generator=generator),
        "mix.weight": torch.randn(12, 12, generator=generator) / 4,
        "mix.bias": torch.zeros(12),
    }
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    tiny_dna_tokenizer(folder)
    return folder


def tiny_barcodemamba(folder: Path) -> Path:
    """What `convert-barcodemamba` writes, at a size that embeds the sample in seconds (untrained weights)."""
    import torch

    from bioscan_hf.models.barcodemamba import BarcodeMambaConfig, BarcodeMambaModel
    from bioscan_hf.models.barcodemamba.tokenization_barcodemamba import tokenizer_for

    torch.manual_seed(0)
    config = BarcodeMambaConfig(d_model=16, n_layer=1, d_state=8, headdim=8, d_inner=32, release="tiny test model")
    BarcodeMambaModel(config).save_pretrained(folder)
    tokenizer_for(config).save_pretrained(folder)
    return folder


def tiny_timm_weights(path: Path, name: str = "test_vit") -> Path:
    """A timm test model's random weights saved as a local .safetensors file (as a user's download would be)."""
    import timm
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    model = timm.create_model(name, pretrained=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def tiny_vit_folder(folder: Path) -> Path:
    """A transformers ViT folder with its image processor (random weights)."""
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    config = ViTConfig(
        image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    ViTModel(config, add_pooling_layer=False).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.25] * 3).save_pretrained(
        folder
    )
    return folder


def require_tools(*names: str, package: str) -> list[str]:
    """Paths of the Debian tools `names`; without them the test skips with the apt command, or fails where
    CI installs them (`BIOSCAN_HF_REQUIRE_TOOLS`, set by .ci/run on a machine with apt)."""
    import pytest

    found = [shutil.which(name) for name in names]
    if all(found):
        return found
    missing = ", ".join(n for n, f in zip(names, found) if not f)
    message = f"{missing} not installed (Debian: apt-get install {package})"
    if os.environ.get("BIOSCAN_HF_REQUIRE_TOOLS"):
        pytest.fail(message + "; .ci/run installs it on this machine, so its absence is a failure here")
    pytest.skip(message)


def run_without_package(code: str):
    """Run Python `code` in a fresh interpreter where importing bioscan_hf fails (as on a machine that
    only has transformers and its dependencies), offline; returns the completed process."""
    import subprocess
    import textwrap

    block = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "bioscan_hf":
                    raise ImportError("bioscan_hf is not installed here")
        sys.meta_path.insert(0, Block())
    """)
    return subprocess.run(
        [sys.executable, "-c", block + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
        cwd="/",
    )


def mutate(sequence: str, fraction: float, rng) -> str:
    """`sequence` with `fraction` of its positions substituted (each by another base)."""
    return _substitute(sequence, rng.choice(len(sequence), int(round(fraction * len(sequence))), replace=False), rng)


def edited(sequence: str, edits: int, rng) -> str:
    """`sequence` with `edits` random substitutions, insertions and deletions."""
    bases = list(sequence)
    for _ in range(edits):
        at, kind = int(rng.integers(1, len(bases) - 1)), rng.integers(3)
        if kind == 0:
            bases[at] = "ACGT"[(("ACGT".index(bases[at])) + int(rng.integers(1, 4))) % 4]
        elif kind == 1:
            bases.insert(at, "ACGT"[int(rng.integers(4))])
        else:
            del bases[at]
    return "".join(bases)


def seed_ranked_library(rng, most_edits: int) -> tuple[str, list[str], np.ndarray, np.ndarray]:
    """A 658-base query; 300 references at 0 to `most_edits` random edits from it and 100 unrelated ones;
    and the references' positions and shared-seed counts as the seed index ranks them for the query."""
    from bioscan_hf.search.seeds import SeedIndex

    query = "".join(rng.choice(list("ACGT"), 658))
    references = [edited(query, e, rng) for e in rng.integers(0, most_edits, 300)]
    references += ["".join(rng.choice(list("ACGT"), 658)) for _ in range(100)]
    positions, counts = SeedIndex.build(references).ranked([query], len(references))[0]
    return query, references, positions, counts


def counted_alignments(monkeypatch) -> list:
    """A list that grows by one at every alignment, `align.align`'s or a search's `BandedAligner`'s (what the
    search's rules spare is counted)."""
    import bioscan_hf.search.align as align_module

    calls: list = []
    align, banded = align_module.align, align_module.BandedAligner.__call__
    monkeypatch.setattr(align_module, "align", lambda *a, **k: calls.append(1) or align(*a, **k))
    monkeypatch.setattr(align_module.BandedAligner, "__call__", lambda *a, **k: calls.append(1) or banded(*a, **k))
    return calls


def library(rng) -> pandas.DataFrame:
    """Two orders × two genera × three species, 4 records each (two haplotypes), 400-nt barcodes:
    species 6% apart within a genus, genera 15% apart, orders unrelated."""
    rows = []
    for o in range(2):
        order = "".join(rng.choice(list("ACGT"), 400))
        for g in range(2):
            genus = mutate(order, 0.15, rng)
            for s in range(3):
                species = mutate(genus, 0.06, rng)
                for h in range(4):
                    barcode = species if h < 2 else mutate(species, 0.005, rng)
                    rows.append(
                        {
                            "processid": f"P{o}{g}{s}{h}",
                            "dna_barcode": barcode,
                            "order": f"Order{o}",
                            "family": f"Fam{o}",
                            "subfamily": None,
                            "genus": f"Gen{o}{g}",
                            "species": f"Gen{o}{g} sp{s}",
                            "dna_bin": f"BOLD:{o}{g}{s}",
                            "country": "Canada" if o == 0 else "Costa Rica",
                        }
                    )
    import pandas  # here: most tests that import helpers need no pandas

    return pandas.DataFrame(rows)


def _substitute(sequence: str, positions, rng) -> str:
    """`sequence` with the bases at `positions` each replaced by another."""
    bases = list(sequence)
    for i in positions:
        bases[i] = rng.choice([b for b in "ACGT" if b != bases[i]])
    return "".join(bases)


def flood_case(seed: int = 0, flood: int = 200, length: int = 658) -> tuple[pandas.DataFrame, str, str]:
    """(reference table, query, processid of the true best hit): a lone reference at 95.6% identity whose
    differences fall on first and second codon positions, spread along it, beside a genus of `flood`
    near-identical references at 93.9–94.2% differing on third positions (synonymous changes): the flood
    shares more spaced seeds with the query than the best hit does (issue 40's mechanism)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    query = "".join(rng.choice(list("ACGT"), length))
    first_second = np.array([i for i in range(length) if i % 3 != 2])
    third = np.arange(2, length, 3)
    spread = first_second[np.linspace(0, len(first_second) - 1, int(0.045 * length)).astype(int)]
    lone = _substitute(query, spread, rng)  # evenly spread: each change breaks the most seeds
    shared = rng.choice(third, int(0.058 * length), replace=False)  # the flood genus' common changes
    rows = [{"processid": "LONE", "dna_barcode": lone, "genus": "Lonely", "species": "Lonely one"}]
    for n in range(flood):
        extra = rng.choice(np.setdiff1d(third, shared), int(rng.integers(0, 3)), replace=False)
        rows.append(
            {
                "processid": f"FLOOD{n}",
                "dna_barcode": _substitute(query, np.concatenate([shared, extra]), rng),
                "genus": "Floodus",
                "species": f"Floodus sp{n % 5}",
            }
        )
    for n in range(300):  # the rest of a library: unrelated barcodes
        rows.append(
            {
                "processid": f"OTHER{n}",
                "dna_barcode": "".join(rng.choice(list("ACGT"), length)),
                "genus": f"Other{n % 30}",
                "species": f"Other{n % 30} sp{n}",
            }
        )
    table = pd.DataFrame(rows).assign(order="Diptera", family="Fam", subfamily=None, dna_bin=None)
    return table, query, "LONE"
