"""Linear probe on frozen embeddings (BIOSCAN-5M's closed-world protocol), at the paper's scale.

Two solvers of the same model, a linear softmax classifier on standardised embeddings:

- `lbfgs` (default): the convex multinomial logistic regression (L2 penalty of scikit-learn's C=1) solved
  by full-batch L-BFGS in torch, stopped as scikit-learn's is (largest gradient entry below 1e-4, at most
  1,000 iterations: a fixed small count under-fits poorly conditioned embeddings), the loss and gradient
  summed over row chunks. Memory is the embeddings
  plus the weights plus a few chunks of logits — about 3 GB at 289,203 × 768 embeddings and 11,846 species —
  where scikit-learn's lbfgs grows by ~9 bytes per train row × class (~32 GB there).
- `sgd`: the paper's recipe, a linear layer trained with SGD (lr 0.01, momentum 0.9, weight decay 1e-5)
  through `Trainer`.

BENCHMARKS.md has the scaling table (memory, time, accuracy against scikit-learn).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence

import datasets
import numpy as np
import torch
from torch import nn
from transformers import Trainer

from bioscan_hf.core.errors import EvaluationError, InputError
from bioscan_hf.core.metrics import micro_macro_accuracy
from bioscan_hf.core.vectors import check_embeddings
from bioscan_hf.training.trainer import training_arguments

PROBE_METHODS = ("lbfgs", "sgd")


def standardise(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Each column scaled to zero mean and unit variance over `train` (constant columns left at zero)."""
    mean, std = train.mean(dim=0), train.std(dim=0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return [(x - mean) / std for x in (train, *others)]


def fit_lbfgs(
    features: torch.Tensor,
    targets: torch.Tensor,
    n_classes: int,
    l2: float = 1.0,
    max_iter: int = 1000,
    tolerance: float = 1e-4,
    chunk: int = 4096,
) -> nn.Linear:
    """Multinomial logistic regression, loss = Σ cross-entropy + l2/2 · ‖W‖², by full-batch L-BFGS until
    the largest gradient entry of the mean loss is below `tolerance` (scikit-learn's stopping rule and
    default) or `max_iter` iterations; the loss and its gradient are accumulated over chunks of `chunk`
    rows so memory stays bounded."""
    layer = nn.Linear(features.shape[1], n_classes, device=features.device)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    optimizer = torch.optim.LBFGS(
        layer.parameters(),
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=tolerance,
        history_size=10,
        line_search_fn="strong_wolfe",
    )
    scale = 1.0 / len(features)  # mean loss: the same minimiser, better conditioned steps

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        total = 0.5 * l2 * scale * layer.weight.pow(2).sum()
        total.backward()
        total = total.detach()
        for start in range(0, len(features), chunk):
            part = nn.functional.cross_entropy(
                layer(features[start : start + chunk]), targets[start : start + chunk], reduction="sum"
            )
            (part * scale).backward()
            total += part.detach() * scale
        return total

    optimizer.step(closure)
    return layer


def fit_sgd(
    features: torch.Tensor,
    targets: torch.Tensor,
    n_classes: int,
    epochs: float = 10,
    batch_size: int = 256,
    learning_rate: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 1e-5,
    seed: int = 0,
) -> nn.Linear:
    """The paper's recipe: a linear layer trained with SGD through `Trainer`."""
    layer = LinearHead(features.shape[1], n_classes)
    data = datasets.Dataset.from_dict({"features": features.numpy(), "labels": targets.numpy()}).with_format("torch")
    with tempfile.TemporaryDirectory() as scratch:
        args = training_arguments(
            scratch,
            num_train_epochs=epochs,
            per_device_train_batch_size=batch_size,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            optim="sgd",
            optim_args=f"momentum={momentum}",
            lr_scheduler_type="constant",
            train_sampling_strategy="random",
            save_strategy="no",
            logging_strategy="no",
            seed=seed,
            disable_tqdm=True,
        )
        Trainer(model=layer, args=args, train_dataset=data).train()
    return layer.linear.cpu()


class LinearHead(nn.Module):
    """A linear layer that returns its cross-entropy loss, as `Trainer` expects."""

    def __init__(self, dim: int, n_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, n_classes)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        logits = self.linear(features)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


def linear_probe(
    train: np.ndarray,
    train_labels: Sequence,
    test: np.ndarray,
    test_labels: Sequence,
    missing: object = None,
    method: str = "lbfgs",
    **solver_options,
) -> dict:
    """Fit a linear softmax classifier on standardised train embeddings (`method`: lbfgs or sgd, see the
    module docstring); score test. Records whose label is `missing` are left out; test classes never
    seen in training count as misses."""
    if method not in PROBE_METHODS:
        raise InputError(f"unknown probe method {method!r}; choose one of {', '.join(PROBE_METHODS)}")
    train_labels = np.asarray(train_labels, dtype=object)
    test_labels = np.asarray(test_labels, dtype=object)
    check_embeddings("train", train, train_labels)
    check_embeddings("test", test, test_labels)
    keep_train, keep_test = train_labels != missing, test_labels != missing
    classes, targets = np.unique(train_labels[keep_train].astype(str), return_inverse=True)
    if len(classes) < 2:
        raise EvaluationError("the linear probe needs at least two labelled classes in train")
    if not keep_test.any():
        raise EvaluationError("no labelled test records")
    x_train, x_test = standardise(
        torch.as_tensor(np.asarray(train, dtype=np.float32)[keep_train]),
        torch.as_tensor(np.asarray(test, dtype=np.float32)[keep_test]),
    )
    y = torch.as_tensor(targets, dtype=torch.long)
    fit = fit_lbfgs if method == "lbfgs" else fit_sgd
    layer = fit(x_train, y, len(classes), **solver_options)
    with torch.no_grad():
        predicted = classes[layer(x_test.to(layer.weight.device)).argmax(dim=1).cpu().numpy()]
    micro, macro = micro_macro_accuracy(predicted, test_labels[keep_test].astype(str))
    return {"micro": micro, "macro": macro, "n_train": int(keep_train.sum()), "n_test": int(keep_test.sum())}
