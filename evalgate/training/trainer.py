"""TRL's SFTTrainer set up for the train stage: the datasets it reads, its configuration for the
device at hand, the time guard and the loss history (with the overfitting warning)."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

from evalgate.config import TrainParams
from evalgate.errors import EvalgateError
from evalgate.loading import Placement
from evalgate.training.data import Encoded
from evalgate.ui import warn


def dataset(enc: Encoded, first_row: int | None = None) -> Any:
    """The records as a datasets.Dataset; with `first_row`, each also carries its index into the
    cached lower-layer states (`row`)."""
    from datasets import Dataset

    columns: dict[str, Any] = {"input_ids": enc.input_ids, "labels": enc.labels}
    if first_row is not None:
        columns["row"] = list(range(first_row, first_row + len(enc.input_ids)))
    return Dataset.from_dict(columns)


def sft_config(train: TrainParams, placement: Placement, work_dir: Path, has_eval: bool, cached: bool = False) -> Any:
    from trl import SFTConfig

    on_cuda = placement.device.startswith("cuda")
    eval_kwargs: dict[str, Any] = {"eval_strategy": "no", "save_strategy": "no"}
    if has_eval:
        eval_kwargs = {
            "eval_strategy": "steps",
            "eval_steps": train.eval_steps,
            "per_device_eval_batch_size": train.batch_size,
            "save_strategy": "steps",
            "save_steps": train.eval_steps,
            "save_total_limit": 2,
            "save_only_model": True,
            "load_best_model_at_end": train.early_stopping_patience is not None,
            "metric_for_best_model": "eval_loss",
            "greater_is_better": False,
        }
    return SFTConfig(
        output_dir=str(work_dir),
        # TRL defaults both to True; on a CPU they cost ~10x per step (see module docstring).
        bf16=on_cuda and placement.dtype_name == "bfloat16",
        fp16=on_cuda and placement.dtype_name == "float16",
        # transformers 5 renamed it; the old name warns at every run.
        activation_checkpointing=train.gradient_checkpointing,
        use_cpu=placement.device == "cpu",
        learning_rate=train.learning_rate,
        lr_scheduler_type=train.lr_scheduler,
        warmup_steps=train.warmup_ratio,  # a float below 1 is a ratio of the total steps
        weight_decay=train.weight_decay,
        num_train_epochs=train.epochs,
        max_steps=train.max_steps if train.max_steps is not None else -1,
        per_device_train_batch_size=train.batch_size,
        gradient_accumulation_steps=train.grad_accum,
        max_length=train.max_length,
        packing=train.packing,
        train_sampling_strategy="group_by_length" if train.group_by_length else "random",
        seed=train.seed,
        data_seed=train.seed,
        logging_steps=train.logging_steps,
        logging_first_step=True,
        report_to="none",
        disable_tqdm=bool(os.environ.get("EVALGATE_NO_PROGRESS")),
        dataloader_num_workers=0,
        optim="adamw_torch",
        include_num_input_tokens_seen="non_padding",
        # Cached lower-layer states are looked up by each record's `row`, which must survive.
        remove_unused_columns=not cached,
        # The objective is the token loss on every path (TRL's, evalgate's, the model's own): an MoE
        # router's load-balancing loss reads every layer's router, frozen layers included.
        router_aux_loss_coef=0.0,
        **eval_kwargs,
    )


def planned_tokens(train: TrainParams, enc: Encoded) -> float:
    """Tokens the optimisation will train on (padding excluded): every record once per epoch, or
    `max_steps` batches of the average record when steps are the budget."""
    lengths = [len(x) for x in enc.input_ids]
    if not lengths:
        return 0.0
    if train.max_steps is not None:
        return float(train.max_steps * train.batch_size * train.grad_accum * sum(lengths) / len(lengths))
    return float(train.epochs * sum(lengths))


class TimeBudgetExceeded(EvalgateError):
    """The optimisation would not finish within `train.max_minutes` on this machine."""


class TimeGuard:
    """`train.max_minutes` as a guard, never as a stopping rule: what is trained is decided by the
    params (epochs, steps, data, seed), so the adapter cannot depend on the machine's speed.

    From the first steps on, the total time of the optimisation is projected from the tokens
    trained so far and the tokens still to train (batches differ in length, so tokens project
    better than steps); as soon as the projection passes the budget the stage fails with one
    message (measured tokens/s, projected minutes, the fixes) and no adapter is written."""

    MIN_STEPS = 4
    """Steps measured before projecting (the first includes one-off set-up)."""

    def __init__(self, minutes: float | None, total_tokens: float, *, clock: Any = None):
        from transformers import TrainerCallback

        guard = self

        class Callback(TrainerCallback):  # type: ignore[misc]
            def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                guard.start = guard.clock()

            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                guard.check(int(state.global_step), float(state.num_input_tokens_seen or 0))

        self.callback = Callback()
        self.seconds = minutes * 60 if minutes is not None else None
        self.total_tokens = total_tokens
        self.clock = clock or time.perf_counter
        self.start = self.clock()
        self.projected_seconds: float | None = None
        self.first_projection: float | None = None
        """The projection made at MIN_STEPS: what the guard first compared with the budget."""

    def check(self, step: int, tokens_seen: float) -> None:
        if step < self.MIN_STEPS or tokens_seen <= 0:
            return
        elapsed = self.clock() - self.start
        rate = tokens_seen / elapsed if elapsed > 0 else float("inf")
        projected = elapsed + max(self.total_tokens - tokens_seen, 0.0) / rate
        self.projected_seconds = projected
        if self.first_projection is None:
            self.first_projection = projected
        if self.seconds is not None and projected > self.seconds:
            raise TimeBudgetExceeded(
                f"train.max_minutes={self.seconds / 60:g}: training would take about {projected / 60:.0f} minutes on this "
                f"machine ({rate:,.0f} tokens/s measured over {step} steps, {self.total_tokens:,.0f} tokens to train); "
                "stopped before writing an adapter. Fixes: a GPU (train.device: cuda), bfloat16 on a CPU that "
                "multiplies it natively (train.compute_dtype), fewer train.epochs or train.max_train_records, "
                "or a larger train.max_minutes"
            )


class History:
    """Collects loss curves and warns on overfitting (train loss tiny while val loss stalls)."""

    def __init__(self, threshold: float):
        from transformers import TrainerCallback

        history = self

        class Callback(TrainerCallback):  # type: ignore[misc]
            def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any) -> None:
                history.on_log(state.global_step, logs or {})

        self.callback = Callback()
        self.threshold = threshold
        self.train: list[tuple[int, float]] = []
        self.val: list[tuple[int, float]] = []
        self.overfitting = False

    def on_log(self, step: int, logs: dict[str, float]) -> None:
        if "loss" in logs:
            self.train.append((step, float(logs["loss"])))
        if "eval_loss" in logs:
            val = float(logs["eval_loss"])
            stalled = bool(self.val) and val >= min(v for _, v in self.val)
            self.val.append((step, val))
            if stalled and self.train and self.train[-1][1] < self.threshold and not self.overfitting:
                self.overfitting = True
                warn(
                    f"possible overfitting at step {step}: training loss {self.train[-1][1]:.3f} is below "
                    f"{self.threshold} while validation loss {val:.3f} is not improving; "
                    "consider fewer epochs, a lower learning rate or more data"
                )


def peak_memory_mb(placement: Placement) -> float:
    if placement.device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
