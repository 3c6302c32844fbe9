"""What every training loop here shares: `Trainer` with the published OneCycle schedule, our default
`TrainingArguments` (bf16 on GPUs that have it, the CPU otherwise), resuming and the final save."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.optim.lr_scheduler import OneCycleLR
from transformers import PrinterCallback, ProgressCallback, Trainer, TrainerCallback, TrainerState, TrainingArguments
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import get_last_checkpoint

from bioscan_hf.core.console import is_verbose, progress_bar
from bioscan_hf.core.errors import InputError


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """`LengthGroupedSampler` whose order depends on (seed, epoch) alone.

    transformers' own draws from the global RNG when the epoch starts; a run resumed mid-epoch draws it from
    a different RNG state, so it skips the right number of batches of a different order and trains again on
    batches the uninterrupted run already saw. Accelerate's `set_epoch` reaches this sampler also through
    its batch-skipping wrapper.
    """

    def __init__(self, batch_size: int, lengths: list[int], seed: int) -> None:
        super().__init__(batch_size, lengths=lengths)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        self.generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return super().__iter__()


class OneCycleTrainer(Trainer):
    """`Trainer` with the published OneCycle learning-rate schedule (peak = `learning_rate`) and a
    length-grouped order that a resumed run replays exactly."""

    def _get_train_sampler(self, train_dataset=None):
        sampler = super()._get_train_sampler(train_dataset)
        if type(sampler) is LengthGroupedSampler:
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return EpochSeededLengthGroupedSampler(sampler.batch_size, sampler.lengths, seed)
        return sampler

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None):
        if self.lr_scheduler is None:
            self.lr_scheduler = OneCycleLR(
                optimizer or self.optimizer, max_lr=self.args.learning_rate, total_steps=max(1, num_training_steps)
            )
        return self.lr_scheduler


@dataclass
class TrainingRun:
    """What a training run left: the final model folder, the checkpoint it resumed from, its logs."""

    model_dir: Path
    resumed_from: str | None
    log_history: list[dict]
    trainer: Trainer
    metrics: dict[str, float] = field(default_factory=dict)


#: Our `TrainingArguments` defaults: BarcodeBERT's published pre-training recipe where it applies (batch 128,
#: lr 2e-4, 35 epochs), CPU-friendly otherwise. Each command's own recipe (`*_RECIPE`) goes on top.
TRAINING_DEFAULTS = {
    "per_device_train_batch_size": 128,
    "learning_rate": 2e-4,
    "weight_decay": 0.01,
    "num_train_epochs": 35,
    "train_sampling_strategy": "group_by_length",
    "remove_unused_columns": False,
    "save_strategy": "steps",
    "save_steps": 500,
    "save_total_limit": 2,
    "logging_steps": 50,
    "report_to": "none",
    "dataloader_num_workers": 0,
    "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
    # Without a GPU, processes started by `accelerate launch --multi_gpu` / torchrun train on the CPU (gloo).
    "use_cpu": not torch.cuda.is_available(),
    "ddp_find_unused_parameters": False,
}


def training_arguments(output_dir: str | os.PathLike, **overrides) -> TrainingArguments:
    """`TRAINING_DEFAULTS` with `overrides` (None values ignored); evaluation batches are as large as
    training batches unless set."""
    values = {**TRAINING_DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    values.setdefault("per_device_eval_batch_size", values["per_device_train_batch_size"])
    return TrainingArguments(output_dir=str(output_dir), **values)


def resumable_state(trainer: Trainer, checkpoint: str | os.PathLike) -> TrainerState:
    """The checkpoint's trainer state, refused when it was written by a run of another length: the OneCycle
    schedule is fixed by the run's total steps, so a run resumes only with the options that planned it."""
    state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
    planned = trainer.set_initial_training_values(trainer.args, trainer.get_train_dataloader())[-1]
    if state.max_steps != planned:
        raise InputError(
            f"{checkpoint} belongs to a run of {state.max_steps} steps, and these options plan {planned} steps; "
            "resume with the options that started it, or start over with --no-resume (or another --out)"
        )
    return state


def finished(state: TrainerState) -> bool:
    """Whether the run a checkpoint belongs to had ended: at its last step, or stopped early (the patience of
    its `EarlyStoppingCallback` spent; resuming would train one more epoch before the next evaluation)."""
    stopper = state.stateful_callbacks.get("EarlyStoppingCallback") or {}
    patience = stopper.get("args", {}).get("early_stopping_patience")
    waited = stopper.get("attributes", {}).get("early_stopping_patience_counter", 0)
    return state.global_step >= state.max_steps or (patience is not None and waited >= patience)


class TrainingProgress(TrainerCallback):
    """One progress bar over a run's steps with its latest loss beside it (the package's bar: hidden under
    `--quiet`), instead of `Trainer`'s printed dict per logging step; every log stays in `log_history`."""

    def __init__(self) -> None:
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        if state.is_world_process_zero:
            self.bar = progress_bar(total=state.max_steps, initial=state.global_step, desc="training", unit="step")

    def on_step_end(self, args, state, control, **kwargs) -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.3f}")

    def on_train_end(self, args, state, control, **kwargs) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def quiet_progress(trainer: Trainer) -> Trainer:
    """`trainer` reporting through `TrainingProgress` (with `--verbose`: Trainer's own bar and logs)."""
    if not is_verbose():
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(TrainingProgress())
    return trainer


def train_and_save(trainer: Trainer, output_dir: str | os.PathLike, resume: bool, save: bool = True) -> TrainingRun:
    """Train (from the last checkpoint when resuming), save the trainer state and, with `save`, the model
    and tokenizer to `output_dir/final` (without it the caller saves the model there)."""
    checkpoint = get_last_checkpoint(str(output_dir)) if resume and Path(output_dir).is_dir() else None
    state = resumable_state(trainer, checkpoint) if checkpoint else None
    if state is not None and finished(state):
        # Trainer would train one batch past the end (and OneCycle refuses to step past its total)
        print(f"training already finished at {checkpoint}: saving its model (--no-resume starts over)")
        trainer.state = state
        trainer._load_from_checkpoint(checkpoint)
    else:
        quiet_progress(trainer).train(resume_from_checkpoint=checkpoint)
    final = Path(output_dir) / "final"
    if save:
        trainer.save_model(str(final))
    trainer.save_state()
    return TrainingRun(final, checkpoint, trainer.state.log_history, trainer)
