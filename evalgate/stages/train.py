"""The `train` stage: QLoRA on the prepared data with TRL's SFTTrainer.

Set up for speed on whatever hardware runs it. Out of the box, SFTTrainer turns on bf16 and
gradient checkpointing; on a CPU that made each step about 10x slower than a plain PEFT loop
(bf16 matmuls are emulated there, and checkpointing re-runs every forward). Here the compute
dtype follows the device, checkpointing is opt-in, the data is tokenised once by the shared
prompt renderer, batches are grouped by length to cut padding, and only the assistant
positions are projected through the LM head (`evalgate.training.sft`).
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgate import __version__
from evalgate.adapter import adapter_sha256, save_adapter
from evalgate.artifacts import (
    package_versions,
    sha256_file,
    sha256_json,
    write_text_atomic,
)
from evalgate.config import Params, TrainParams, cache_dir
from evalgate.contract import SCHEMA_VERSION, TrainMeta, TrainMetrics, read_manifest, write_artifact
from evalgate.errors import InputError
from evalgate.git import git_commit
from evalgate.loading import Placement, load_base_model, resolve_placement
from evalgate.models import BaseModelRef, base_model_sha256, load_tokenizer, model_dir, resolve_base
from evalgate.training.data import Encoded, encode_records, read_prepared, subset
from evalgate.training.trunk import LowerStates
from evalgate.trunk import TrunkStore
from evalgate.ui import info, warn

META_PATH = Path("models/train_meta.json")
METRICS_PATH = Path("metrics/train.json")
TRAIN_PLOT = Path("plots/train_loss.csv")
VAL_PLOT = Path("plots/val_loss.csv")
PACKAGES = ["torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "datasets"]


@dataclass
class PreparedData:
    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    dataset_sha256: str


def load_prepared(prepared_dir: Path, train: TrainParams) -> PreparedData:
    """Read train/val, refusing data that does not match its manifest."""
    manifest_path = prepared_dir / "manifest.json"
    manifest = read_manifest(manifest_path)
    for name in ("train.jsonl", "val.jsonl"):
        path = prepared_dir / name
        if not path.is_file():
            raise InputError(f"{path}: not found; re-run `evalgate prepare`")
        if name not in manifest.files or sha256_file(path) != manifest.files[name].sha256:
            raise InputError(
                f"{path}: sha256 does not match {manifest_path}; the prepared data was changed by hand, "
                "re-run `evalgate prepare`"
            )
    rows = read_prepared(prepared_dir / "train.jsonl")
    if not rows:
        raise InputError(f"{prepared_dir / 'train.jsonl'}: the prepared training set is empty; add data to train on")
    val = read_prepared(prepared_dir / "val.jsonl")
    return PreparedData(rows, val, manifest.dataset_sha256)


def linear_module_names(model: Any) -> list[str]:
    """Leaf names of the linear layers LoRA can target (what `target_modules` may name)."""
    import torch

    names = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Linear4bit", "Linear8bitLt"):
            names.add(name.rsplit(".", 1)[-1])
    output = model.get_output_embeddings()
    for name, module in model.named_modules():
        if module is output:
            names.discard(name.rsplit(".", 1)[-1])
    return sorted(names)


def check_lora(model: Any, train: TrainParams) -> list[str]:
    """Validate the LoRA settings against a model (a meta-device copy is enough); return its linear names."""
    available = linear_module_names(model)
    if train.lora.target_modules != "all-linear":
        unknown = [m for m in train.lora.target_modules if m not in available]
        if unknown:
            raise InputError(
                f"train.lora.target_modules: {', '.join(unknown)} not in this model; its linear modules are: "
                f"{', '.join(available)} (or use all-linear)"
            )
    text_config = model.config.get_text_config()
    n_layers = getattr(text_config, "num_hidden_layers", None)
    if train.lora.layers is not None and n_layers is not None:
        bad = [i for i in train.lora.layers if not 0 <= i < n_layers]
        if bad:
            raise InputError(f"train.lora.layers: {bad} out of range; this model has layers 0..{n_layers - 1}")
    if train.lora.r > text_config.hidden_size:
        raise InputError(
            f"train.lora.r: {train.lora.r} is larger than the model's hidden size "
            f"{text_config.hidden_size}; use a smaller rank"
        )
    return available


def check_lora_before_loading(ref: BaseModelRef, train: TrainParams) -> None:
    """Fail on LoRA settings that do not fit the model before spending time loading weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(str(model_dir(ref)))
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    check_lora(skeleton, train)


def attach_lora(model: Any, train: TrainParams, quantized: bool) -> Any:
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    available = check_lora(model, train)
    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=train.gradient_checkpointing)
    targets = train.lora.target_modules
    if targets == "all-linear" and train.lora.layers is not None:
        targets = available  # PEFT takes a layer subset only with explicit module names
    config = LoraConfig(
        r=train.lora.r,
        lora_alpha=train.lora.alpha,
        lora_dropout=train.lora.dropout,
        target_modules=targets,
        layers_to_transform=train.lora.layers,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def _dataset(enc: Encoded, first_row: int | None = None) -> Any:
    """The records as a datasets.Dataset; with `first_row`, each also carries its index into the
    cached lower-layer states (`row`)."""
    from datasets import Dataset

    columns: dict[str, Any] = {"input_ids": enc.input_ids, "labels": enc.labels}
    if first_row is not None:
        columns["row"] = list(range(first_row, first_row + len(enc.input_ids)))
    return Dataset.from_dict(columns)


def frozen_floor(train: TrainParams, placement: Placement, model: Any) -> int:
    """The lowest adapted layer when the layers below it are to be computed once and cached;
    0 to run the whole model at every step."""
    from evalgate.trunk import adapter_floor

    if train.frozen_layers == "recomputed" or train.packing:
        return 0
    if train.frozen_layers == "auto" and (not placement.device.startswith("cpu") or "LOCAL_RANK" in os.environ):
        return 0  # on GPUs the lower layers cost little; under DDP each rank sees other records
    return adapter_floor(model)


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
        gradient_checkpointing=train.gradient_checkpointing,
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
        **eval_kwargs,
    )


class _TimeBudget:
    """Stops training at the first optimisation step past `train.max_minutes`."""

    def __init__(self, minutes: float | None):
        from transformers import TrainerCallback

        budget = self

        class Callback(TrainerCallback):  # type: ignore[misc]
            def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                budget.start = time.perf_counter()

            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                if budget.seconds is not None and time.perf_counter() - budget.start > budget.seconds:
                    budget.hit = True
                    control.should_training_stop = True

        self.callback = Callback()
        self.seconds = minutes * 60 if minutes is not None else None
        self.start = time.perf_counter()
        self.hit = False


class _History:
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


def _peak_memory_mb(placement: Placement) -> float:
    if placement.device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _csv(rows: list[tuple[int, float]], name: str) -> str:
    return f"step,{name}\n" + "".join(f"{s},{v:.6f}\n" for s, v in rows)


def run_train(params: Params, root: Path = Path("."), callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Train the adapter; `callbacks` (transformers TrainerCallbacks) are added to the trainer's own."""
    import torch
    from transformers import EarlyStoppingCallback, set_seed
    from transformers.utils import logging as hf_logging

    from evalgate.training.sft import EvalgateSFTTrainer

    train = params.train
    data = load_prepared(root / params.prepare.output_dir, train)
    ref = resolve_base(params.model.base, params.model.revision)
    placement = resolve_placement(train.device, train.compute_dtype)
    if train.threads:
        torch.set_num_threads(train.threads)
    tokenizer = load_tokenizer(ref)
    # Length first, then the subset: max_train_records counts records that are trained on.
    train_enc = subset(encode_records(tokenizer, data.train, train.max_length, train.long_records), train.max_train_records)
    val_enc = subset(encode_records(tokenizer, data.val, train.max_length, train.long_records), train.max_val_records)
    if not train_enc.input_ids:
        raise InputError("train: no training record has an assistant token within train.max_length; raise it")
    info(
        f"training on {len(train_enc.ids):,} records ({train_enc.tokens:,} tokens, "
        f"{train_enc.label_tokens:,} assistant tokens), validating on {len(val_enc.ids):,}; "
        f"{placement.device}, {placement.dtype_name}, quantization {train.quantization}"
    )
    if train_enc.truncated:
        warn(f"{train_enc.truncated} training records were truncated to train.max_length={train.max_length}")
    if train_enc.too_long:
        info(f"{train_enc.too_long} training records longer than train.max_length={train.max_length} left out (long_records: drop)")

    check_lora_before_loading(ref, train)
    base_hash = base_model_sha256(ref)
    set_seed(train.seed)
    hf_logging.set_verbosity_error()
    if os.environ.get("EVALGATE_NO_PROGRESS"):
        hf_logging.disable_progress_bar()
        import datasets

        datasets.disable_progress_bars()
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    model = load_base_model(ref, train.quantization, placement)
    model = attach_lora(model, train, quantized=train.quantization != "none")
    phases["load_s"] = time.perf_counter() - t0
    floor = frozen_floor(train, placement, model)
    has_eval = bool(val_enc.input_ids)
    lower: LowerStates | None = None
    if floor:
        from evalgate.training.trunk import compute_lower_states

        store = None
        if train.trunk_cache_gb > 0:
            namespace = {"base": base_hash, "quantization": train.quantization, "dtype": placement.dtype_name, "device": placement.device.split(":")[0]}
            store = TrunkStore(cache_dir() / "train-trunk", namespace, int(train.trunk_cache_gb * 2**30))
        both = Encoded(train_enc.input_ids + val_enc.input_ids, train_enc.labels + val_enc.labels)
        lower = compute_lower_states(model, both, floor, tokenizer.pad_token_id, placement.device, store, "training data")
        phases["lower_layers_s"] = lower.seconds
        info(
            f"frozen layers 0-{floor - 1}: states of {lower.computed:,} records computed "
            f"({lower.tokens:,} tokens, {lower.seconds:.0f} s), {lower.reused:,} reused from the cache; "
            f"training layers {floor}+ on them"
        )
    history = _History(train.overfit_train_loss)
    budget = _TimeBudget(train.max_minutes)
    callbacks = [history.callback, budget.callback, *(callbacks or [])]
    if has_eval and train.early_stopping_patience is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=train.early_stopping_patience))
    out_dir = root / train.output_dir
    # Checkpoints for early stopping; one directory shared by all ranks under DDP.
    work_dir = out_dir.parent / ".train-work"
    if os.environ.get("LOCAL_RANK", "0") == "0":
        shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        extra: dict[str, Any] = {}
        if lower is not None:
            from evalgate.training.trunk import LowerStatesCollator

            extra["data_collator"] = LowerStatesCollator(tokenizer.pad_token_id, lower, placement.dtype)
        n_train = len(train_enc.input_ids)
        trainer = EvalgateSFTTrainer(
            model=model,
            args=sft_config(train, placement, work_dir, has_eval, cached=lower is not None),
            train_dataset=_dataset(train_enc, 0 if lower is not None else None),
            eval_dataset=_dataset(val_enc, n_train if lower is not None else None) if has_eval else None,
            processing_class=tokenizer,
            callbacks=callbacks,
            **extra,
        )
        trainer.frozen_floor = floor if lower is not None else 0
        start = time.perf_counter()
        try:
            result = trainer.train()
        except torch.OutOfMemoryError:
            raise InputError(
                "not enough memory while training; lower train.batch_size or train.max_length, "
                "or turn on train.gradient_checkpointing"
            ) from None
        wall = time.perf_counter() - start
        phases["train_s"] = wall
        if not math.isfinite(result.training_loss):
            raise InputError("training diverged (the loss is not finite); lower train.learning_rate")
        if budget.hit:
            warn(
                f"train.max_minutes={train.max_minutes:g} reached after {trainer.state.epoch or 0:.2f} of "
                f"{train.epochs:g} epochs ({trainer.state.global_step} steps); the adapter is what was learned so far"
            )
        if has_eval and not history.val:
            history.on_log(trainer.state.global_step, trainer.evaluate())
        main_process = trainer.is_world_process_zero()
        t0 = time.perf_counter()
        if main_process:  # under DDP only rank 0 writes
            save_adapter(trainer.model, ref.spec, out_dir)
        phases["save_s"] = time.perf_counter() - t0
    finally:
        if os.environ.get("LOCAL_RANK", "0") == "0":
            shutil.rmtree(work_dir, ignore_errors=True)
    if not main_process:
        return {}

    tokens_seen = int(trainer.state.num_input_tokens_seen)
    adapter_hash = adapter_sha256(out_dir)
    metrics = {
        "schema_version": SCHEMA_VERSION,
        "train_loss": round(float(result.training_loss), 6),
        "final_train_loss": history.train[-1][1] if history.train else None,
        # With early stopping the best checkpoint is loaded at the end and saved: report its loss.
        "val_loss": (
            (min(v for _, v in history.val) if train.early_stopping_patience is not None else history.val[-1][1])
            if history.val
            else None
        ),
        "final_val_loss": history.val[-1][1] if history.val else None,
        "steps": int(trainer.state.global_step),
        "epochs": round(float(trainer.state.epoch or 0.0), 4),
        "tokens_seen": tokens_seen,
        "tokens_per_second": round(tokens_seen / wall, 2) if wall > 0 else None,
        "wall_seconds": round(wall, 2),
        "peak_memory_mb": round(_peak_memory_mb(placement), 1),
        "early_stopped": bool(has_eval and not budget.hit and trainer.state.global_step < trainer.state.max_steps),
        "stopped_by_time_budget": budget.hit,
        # Which trainer path ran: the frozen lower layers computed once and cached, or the whole
        # model run at every step.
        "trainer_path": "cached_lower_layers" if lower is not None else "full_forward",
        "frozen_layers": floor if lower is not None else 0,
        "lower_layer_states": (
            {"records": lower.computed + lower.reused, "computed": lower.computed, "reused": lower.reused, "tokens_computed": lower.tokens}
            if lower is not None
            else None
        ),
        "phase_seconds": {k: round(v, 2) for k, v in phases.items()},
        "overfitting_warning": history.overfitting,
        "adapter_sha256": adapter_hash,
    }
    meta = {
        "schema_version": SCHEMA_VERSION,
        "kind": "evalgate.train.meta",
        "adapter_sha256": adapter_hash,
        "adapter_dir": train.output_dir,
        "dataset_sha256": data.dataset_sha256,
        "base_model": {"spec": ref.spec, "kind": ref.kind, "sha256": base_hash},
        "train_records": len(train_enc.ids),
        "val_records": len(val_enc.ids),
        "train_record_ids_sha256": sha256_json(train_enc.ids),
        "dropped_records": train_enc.dropped,
        "truncated_records": train_enc.truncated,
        "long_records_dropped": train_enc.too_long,
        "hyperparameters": train.model_dump(mode="json"),
        "lora": train.lora.model_dump(mode="json"),
        "device": placement.device,
        "compute_dtype": placement.dtype_name,
        "seed": train.seed,
        "metrics": {k: v for k, v in metrics.items() if k != "schema_version"},
        "git_commit": git_commit(root),
        "evalgate_version": __version__,
        "packages": package_versions(PACKAGES),
    }
    write_artifact(root / META_PATH, TrainMeta, meta)
    write_artifact(root / METRICS_PATH, TrainMetrics, metrics)
    write_text_atomic(root / TRAIN_PLOT, _csv(history.train, "train_loss"))
    write_text_atomic(root / VAL_PLOT, _csv(history.val, "val_loss"))
    return meta
