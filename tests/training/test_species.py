"""Species classifiers through Trainer: the CNN baseline of Table 4 (architecture, one-hot input, its
StepLR recipe, its 500-d features as an encoder), fine-tuning any transformers DNA model (hf:) and a
BarcodeMamba folder with its authors' recipe (cosine schedule, early stopping)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_barcodemamba, tiny_bert_dna

from bioscan_hf.cli import main


def test_cnn_one_hot_and_published_shape() -> None:
    from bioscan_hf.models.cnn import BarcodeCnnConfig, BarcodeCnnModel, base_tokenizer

    config = BarcodeCnnConfig()
    assert config.flat_dim == 1840  # 16 channels × 23 positions × 5 bases: the original's `dim=1840`
    model = BarcodeCnnModel(config)
    tokens = base_tokenizer()(["ACGTN-x", "AC"], padding=True, return_tensors="pt")
    encoded = model.one_hot(tokens["input_ids"].masked_fill(tokens["attention_mask"] == 0, 99))
    assert encoded.shape == (2, 1, 660, 5)
    assert encoded[0, 0, :7].tolist() == [
        [1, 0, 0, 0, 0],
        [0, 1, 0, 0, 0],
        [0, 0, 1, 0, 0],
        [0, 0, 0, 1, 0],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0],  # a gap: all zero, as in the original
        [0, 0, 0, 0, 0],  # any other letter too
    ]
    assert encoded[1, 0, 2:].sum() == 0  # padding and the rest of the 660 positions: zero
    long = base_tokenizer()(["A" * 700], return_tensors="pt", truncation=True)
    assert long["input_ids"].shape[1] == 660


def test_train_cnn_recipe_scores_and_features(prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "cnn"
    args = ["train-cnn", "--dataset", str(prepared), "--out", str(out), "--epochs", "7", "--logging-steps", "1"]
    assert main([*args, "--cpu"]) == 0
    state = json.loads((out / "trainer_state.json").read_text())
    rates = [entry["learning_rate"] for entry in state["log_history"] if "learning_rate" in entry]
    per_epoch = len(rates) // 7
    assert rates[0] == pytest.approx(0.005)  # SGD at 0.005, halved every 3 epochs
    assert rates[3 * per_epoch] == pytest.approx(0.0025) and rates[6 * per_epoch] == pytest.approx(0.00125)
    metrics = json.loads((out / "final" / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and 0.0 <= metrics["val_macro_accuracy"] <= 1.0
    assert json.loads((out / "final" / "run.json").read_text())["model"] == "cnn"
    from bioscan_hf.embedding import load_encoder

    encoder = load_encoder(out / "final", device="cpu")
    vectors = encoder.embed_dna(["ACGTACGT", "ACGTACGTAAAA"], progress=False)
    assert vectors.shape == (2, 500) and np.all(np.abs(vectors) <= 1)  # tanh features
    knn = ["evaluate", "knn", "--dataset", str(prepared), "--model", str(out / "final"), "--out", str(tmp_path / "e")]
    assert main(knn) == 0


def test_finetune_any_transformers_dna_model(prepared: Path, tmp_path: Path) -> None:
    model = tiny_bert_dna(tmp_path / "dnabert", max_length=1024)
    out = tmp_path / "ft"
    args = ["finetune", "--dataset", str(prepared), "--model", f"hf:{model}", "--out", str(out)]
    assert main([*args, "--max-steps", "4", "--batch-size", "16", "--cpu"]) == 0
    metrics = json.loads((out / "final" / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    from transformers import AutoModelForSequenceClassification

    classifier = AutoModelForSequenceClassification.from_pretrained(out / "final")
    assert type(classifier).__name__ == "BertForSequenceClassification"
    assert classifier.config.num_labels == len(classifier.config.id2label) > 1
    with torch.no_grad():
        assert classifier(torch.tensor([[2, 5, 6, 3]])).logits.shape == (1, classifier.config.num_labels)


def test_finetune_barcodemamba_with_its_authors_recipe(prepared: Path, tmp_path: Path, capsys) -> None:
    model = tiny_barcodemamba(tmp_path / "barcodemamba")
    out = tmp_path / "ft"
    args = ["finetune", "--dataset", str(prepared), "--model", str(model), "--out", str(out), "--logging-steps", "1"]
    assert main([*args, "--epochs", "8"]) == 0
    used = torch.load(out / "final" / "training_args.bin", weights_only=False)
    assert (used.per_device_train_batch_size, used.learning_rate, used.weight_decay) == (16, 8e-4, 0.1)
    assert used.max_grad_norm == 1.0 and used.lr_scheduler_type == "cosine_with_min_lr"
    state = json.loads((out / "trainer_state.json").read_text())
    rates = [entry["learning_rate"] for entry in state["log_history"] if "learning_rate" in entry]
    peak = rates.index(max(rates))
    assert max(rates) <= 8e-4 and peak <= 1  # a 1% warm-up, then the cosine …
    assert all(a >= b for a, b in zip(rates[peak:], rates[peak + 1 :]))
    assert min(rates[peak:]) >= 8e-5 * 0.999  # … down to 0.1 × lr at most
    # early stopping on the val loss, patience 3: stopped exactly when 3 evaluations in a row were no better
    losses = [entry["eval_loss"] for entry in state["log_history"] if "eval_loss" in entry]
    waited = len(losses) - 1 - losses.index(min(losses))
    stopper = state["stateful_callbacks"]["EarlyStoppingCallback"]["attributes"]
    assert stopper["early_stopping_patience_counter"] == waited and len(losses) == round(state["epoch"])
    assert (waited >= 3) == (len(losses) < 8)
    metrics = json.loads((out / "final" / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    from transformers import AutoModelForSequenceClassification

    classifier = AutoModelForSequenceClassification.from_pretrained(out / "final")
    assert type(classifier).__name__ == "BarcodeMambaForSequenceClassification"
    assert classifier.config.num_labels == len(classifier.config.id2label) > 1

    capsys.readouterr()
    assert main([*args, "--epochs", "8"]) == 0  # run again: a finished (or early-stopped) run is not trained on
    assert "training already finished" in capsys.readouterr().out
    assert json.loads((out / "final" / "metrics.json").read_text()) == metrics
    tables = ["tables", str(out / "final"), "--out", str(tmp_path / "tables")]
    assert main(tables) == 0
    row = next(line for line in (tmp_path / "tables" / "tables.md").read_text().splitlines() if "barcodemamba" in line)
    assert f"| {100 * metrics['test_accuracy']:.2f} |" in row  # Table 4's fine-tuned column


def test_a_classifier_head_is_kept_only_for_the_same_species(tmp_path: Path, capsys) -> None:
    from bioscan_hf.models.barcodemamba import (
        BarcodeMambaConfig,
        BarcodeMambaForCausalLM,
        BarcodeMambaForSequenceClassification,
    )
    from bioscan_hf.training.species import species_classifier

    species = ["Aedes aegypti", "Culex pipiens", "Apis mellifera"]
    sizes = {"d_model": 16, "n_layer": 1, "d_state": 8, "headdim": 8, "d_inner": 32}

    def head_of(model) -> torch.Tensor:
        return model.head["output_transform"].weight.detach().clone()

    torch.manual_seed(0)
    same = BarcodeMambaForSequenceClassification(BarcodeMambaConfig(**sizes, id2label=dict(enumerate(species))))
    same.save_pretrained(tmp_path / "same")
    assert torch.equal(head_of(species_classifier(str(tmp_path / "same"), species)), head_of(same))
    assert capsys.readouterr().out == ""  # trained on exactly these species: kept, nothing to say

    other_labels = dict(enumerate(["Bombus terrestris", "Culex pipiens", "Apis mellifera"]))
    other = BarcodeMambaForSequenceClassification(BarcodeMambaConfig(**sizes, id2label=other_labels))
    other.save_pretrained(tmp_path / "other")
    files_before = {f.name: f.read_bytes() for f in (tmp_path / "other").iterdir()}
    redrawn = species_classifier(str(tmp_path / "other"), species)
    assert not torch.equal(head_of(redrawn), head_of(other))  # same size, other labels: a new head
    assert torch.equal(
        redrawn.backbone.embeddings.word_embeddings.weight, other.backbone.embeddings.word_embeddings.weight
    )
    assert "its classifier head (3 labels) is not for these 3 species" in capsys.readouterr().out
    assert {f.name: f.read_bytes() for f in (tmp_path / "other").iterdir()} == files_before

    larger = BarcodeMambaForSequenceClassification(BarcodeMambaConfig(**sizes, num_labels=7))
    larger.save_pretrained(tmp_path / "larger")
    assert species_classifier(str(tmp_path / "larger"), species).config.num_labels == 3
    assert "(7 labels)" in capsys.readouterr().out

    pretrained = BarcodeMambaForCausalLM(BarcodeMambaConfig(**sizes))  # a converted pre-training run
    pretrained.save_pretrained(tmp_path / "pretrained")
    classifier = species_classifier(str(tmp_path / "pretrained"), species)
    assert classifier.config.id2label == dict(enumerate(species)) and capsys.readouterr().out == ""
    assert torch.equal(classifier.backbone.layers[0].mixer.A_log, pretrained.backbone.layers[0].mixer.A_log)
