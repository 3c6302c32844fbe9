"""Plant the bugs the suite once missed, one at a time, in a copy of the package, and require the tests
of that module to fail on each (`make mutation`; not in CI). Complements `mutmut` (the same target), whose
score counts every generated mutant.

    python tests/mutation/planted.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: (name, file, original text, planted text, tests that must fail)
PLANTED = [
    (
        "partition: no cap of 1 + ⅓ of a species' barcodes in test",
        "bioscan_hf/data/partition.py",
        "1 + len(groups) // 3",
        "len(groups)",
        ["tests/data/test_partition.py"],
    ),
    (
        "partition: the first non-test barcode may go to val (no barcode kept in train)",
        "bioscan_hf/data/partition.py",
        "train_kept = False  # the first barcode left out of test always goes to train",
        "train_kept = True",
        ["tests/data/test_partition.py"],
    ),
    (
        "partition: unseen query splits may take the species' last barcode (no key left)",
        "bioscan_hf/data/partition.py",
        "while position < len(groups) - 1 and",
        "while position < len(groups) and",
        ["tests/data/test_partition.py"],
    ),
    (
        "partition: test quota off by one",
        "bioscan_hf/data/partition.py",
        "TEST_BASE + (n_samples - MIN_SAMPLES_EVAL) // 4",
        "TEST_BASE + 1 + (n_samples - MIN_SAMPLES_EVAL) // 4",
        ["tests/data/test_partition.py"],
    ),
    (
        "partition: barcodes grouped as written (gaps, case, trailing N make a new barcode)",
        "bioscan_hf/data/partition.py",
        "groups[barcode_key(barcodes[i])].append(i)",
        "groups[barcodes[i]].append(i)",
        ["tests/data/test_partition.py"],
    ),
    (
        "CLIBD: one-sided InfoNCE (the column term dropped)",
        "bioscan_hf/models/clibd/modeling_clibd.py",
        "(nn.functional.cross_entropy(logits, targets) + nn.functional.cross_entropy(logits.t(), targets)) / 2",
        "nn.functional.cross_entropy(logits, targets)",
        ["tests/models/test_modeling_clibd.py"],
    ),
    (
        "1-NN: unlabelled keys kept as neighbours",
        "bioscan_hf/evaluation/nearest.py",
        "keep_keys, keep_queries = key_labels != missing, query_labels != missing",
        "keep_keys, keep_queries = key_labels == key_labels, query_labels != missing",
        ["tests/evaluation/test_nearest.py"],
    ),
    (
        "1-NN over distinct barcodes: unlabelled keys kept as neighbours (the path `evaluate knn` takes)",
        "bioscan_hf/evaluation/nearest.py",
        "rows = np.flatnonzero(labels != missing)[::-1]",
        "rows = np.arange(len(labels))[::-1]",
        ["tests/evaluation/test_nearest.py"],
    ),
    (
        "clustering: --concat-model ignored",
        "bioscan_hf/evaluation/protocols/cluster.py",
        "vectors = combine(per_model) if also else per_model[0]",
        "vectors = per_model[0]",
        ["tests/evaluation/test_encoders.py::test_concat_model_reaches_the_clustering"],
    ),
    (
        "tokenizer: overlapping k-mers may run past a sequence's end inside a batch",
        "bioscan_hf/models/barcodebert/tokenization_barcodebert.py",
        "unknown |= (code >= UNKNOWN_CODE) | (starts + t >= ends)",
        "unknown |= code >= UNKNOWN_CODE",
        ["tests/models/test_tokenization_barcodebert.py"],
    ),
    (
        "metrics: macro accuracy averaged over queries instead of classes",
        "bioscan_hf/core/metrics.py",
        "return float(correct.mean()), float(per_class.mean())",
        "return float(correct.mean()), float(correct.mean())",
        ["tests/evaluation/test_nearest.py"],
    ),
    (
        "conflicting annotations: majority accepted below 90%",
        "bioscan_hf/data/bold.py",
        "CONFLICT_MAJORITY = 0.9",
        "CONFLICT_MAJORITY = 0.5",
        ["tests/data/test_bold.py"],
    ),
    (
        "training: length-grouped order drawn from the global RNG (a resumed run replays another order)",
        "bioscan_hf/training/trainer.py",
        "if type(sampler) is LengthGroupedSampler:",
        "if False:",
        ["tests/training/test_barcodebert_training.py::test_resume_after_kill"],
    ),
    (
        "CLIBD: every process applies rank 0's modality masks to the gathered batch",
        "bioscan_hf/models/clibd/modeling_clibd.py",
        "gathered_masks = {name: gather_with_grad(m.to(torch.bool)) for name, m in masks.items()}",
        "gathered_masks = {name: m.to(torch.bool).repeat(len(gathered[name]) // len(m)) for name, m in masks.items()}",
        ["tests/training/test_clibd_distributed.py"],
    ),
]


def killed(file: str, original: str, planted: str, tests: list[str]) -> bool:
    """True when the tests fail with the bug planted (in a copy of the package: the checkout is untouched)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp)
        for part in ("bioscan_hf", "tests", "spaces", "pyproject.toml", "README.md"):
            source = ROOT / part
            (shutil.copytree if source.is_dir() else shutil.copy)(source, copy / part)
        target = copy / file
        text = target.read_text()
        if text.count(original) != 1:
            raise SystemExit(f"{file}: the text to change is not there exactly once: {original!r}")
        target.write_text(text.replace(original, planted))
        env = {**os.environ, "PYTHONPATH": str(copy), "HF_HUB_OFFLINE": "1"}
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:xdist", "-p", "no:cacheprovider", *tests],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        return run.returncode != 0


def main() -> int:
    survivors = []
    for name, file, original, planted, tests in PLANTED:
        result = killed(file, original, planted, tests)
        print(f"{'killed  ' if result else 'SURVIVED'}  {name}", flush=True)
        if not result:
            survivors.append(name)
    print(f"{len(PLANTED) - len(survivors)} of {len(PLANTED)} planted bugs caught")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
