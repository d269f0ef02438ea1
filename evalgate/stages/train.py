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
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgate import __version__
from evalgate.adapter import ADAPTER_FILES, adapter_sha256, save_adapter
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
from evalgate.hardware import engine_text
from evalgate.loading import load_base_model, resolve_placement
from evalgate.models import base_model_sha256, load_tokenizer, resolve_base
from evalgate.training.data import Encoded, encode_records, read_prepared, subset
from evalgate.training.lora import attach_lora, check_lora_before_loading, frozen_floor
from evalgate.training.trainer import (
    History,
    TimeGuard,
    dataset,
    peak_memory_mb,
    planned_tokens,
    sft_config,
)
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


def _csv(rows: list[tuple[int, float]], name: str) -> str:
    return f"step,{name}\n" + "".join(f"{s},{v:.6f}\n" for s, v in rows)


def run_train(params: Params, root: Path = Path("."), callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Train the adapter; `callbacks` (transformers TrainerCallbacks) are added to the trainer's own."""
    import torch
    from transformers import EarlyStoppingCallback, set_seed
    from transformers.utils import logging as hf_logging

    from evalgate.training.sft import EvalgateSFTTrainer

    train = params.train
    # This run's outputs replace the last run's, or, when it fails, leave none: a stale adapter
    # must never pass for this data's (as `dvc repro` removes a stage's outputs before running it).
    if os.environ.get("LOCAL_RANK", "0") == "0":
        for stale in (root / META_PATH, root / METRICS_PATH):
            stale.unlink(missing_ok=True)
        for name in ADAPTER_FILES:
            (root / train.output_dir / name).unlink(missing_ok=True)
    data = load_prepared(root / params.prepare.output_dir, train)
    ref = resolve_base(params.model.base, params.model.revision)
    placement = resolve_placement(train.device, train.compute_dtype)
    if train.threads:
        torch.set_num_threads(train.threads)
    engine = placement.engine()
    tokenizer = load_tokenizer(ref)
    # Length first, then the subset: max_train_records counts records that are trained on.
    train_enc = subset(encode_records(tokenizer, data.train, train.max_length, train.long_records), train.max_train_records)
    val_enc = subset(encode_records(tokenizer, data.val, train.max_length, train.long_records), train.max_val_records)
    if not train_enc.input_ids:
        raise InputError("train: no training record has an assistant token within train.max_length; raise it")
    replay_info = None
    if train.replay is not None:
        from evalgate.training.replay import encode_replay, merged

        replay_enc, replay_info = encode_replay(tokenizer, train.replay, root)
        replay_info["task_records"] = len(train_enc.ids)
        info(f"rehearsing {replay_info['records']} passages of general text ({replay_info['tokens']:,} tokens, {train.replay.source}) beside the task records")
        train_enc = merged(train_enc, replay_enc)
    info(
        f"training on {len(train_enc.ids):,} records ({train_enc.tokens:,} tokens, "
        f"{train_enc.label_tokens:,} assistant tokens), validating on {len(val_enc.ids):,}; "
        f"{engine_text(engine)}, quantization {train.quantization}"
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
            namespace = {"base": base_hash, "quantization": train.quantization, **engine}
            store = TrunkStore(cache_dir() / "train-trunk", namespace, int(train.trunk_cache_gb * 2**30))
        both = Encoded(train_enc.input_ids + val_enc.input_ids, train_enc.labels + val_enc.labels)
        lower = compute_lower_states(model, both, floor, tokenizer.pad_token_id, placement.device, store, "training data")
        phases["lower_layers_s"] = lower.seconds
        info(
            f"frozen layers 0-{floor - 1}: states of {lower.computed:,} records computed "
            f"({lower.tokens:,} tokens, {lower.seconds:.0f} s), {lower.reused:,} reused from the cache; "
            f"training layers {floor}+ on them"
        )
    soft: dict[int, tuple[Any, Any]] | None = None
    if replay_info is not None and train.replay is not None and train.replay.targets == "base":
        from evalgate.training.replay import replay_targets

        t1 = time.perf_counter()
        n_task = replay_info["task_records"]
        replay_ids = train_enc.input_ids[n_task:]
        # With cached frozen-layer states only the adapted layers and the head run here.
        from_states = (lower.floor, lower.hidden[n_task : len(train_enc.input_ids)]) if lower is not None else None
        key = {"base": base_hash, "engine": engine, "quantization": train.quantization}
        targets, cached = replay_targets(model, train.replay, replay_ids, placement.device, key, from_states)
        soft = {n_task + i: (targets.ids[i], targets.probs[i]) for i in range(len(replay_ids))}
        phases["replay_targets_s"] = time.perf_counter() - t1
        where = "from the cache" if cached else f"{phases['replay_targets_s']:.0f} s"
        info(f"replay targets: the base model's own next-token distributions, top {train.replay.top_k} ({where})")
    history = History(train.overfit_train_loss)
    guard = TimeGuard(train.max_minutes, planned_tokens(train, train_enc))
    callbacks = [history.callback, guard.callback, *(callbacks or [])]
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
        # Batches are built by evalgate's collator when they carry cached states or soft targets,
        # both looked up by each record's `row`.
        rows = lower is not None or soft is not None
        if rows:
            from evalgate.training.trunk import LowerStatesCollator

            weight = train.replay.weight if train.replay is not None else 1.0
            extra["data_collator"] = LowerStatesCollator(tokenizer.pad_token_id, lower, placement.dtype, soft, weight)
        n_train = len(train_enc.input_ids)
        trainer = EvalgateSFTTrainer(
            model=model,
            args=sft_config(train, placement, work_dir, has_eval, cached=rows),
            train_dataset=dataset(train_enc, 0 if rows else None),
            eval_dataset=dataset(val_enc, n_train if rows else None) if has_eval else None,
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
        # Fewer steps than planned happen only when early stopping fired: the guard fails the
        # stage rather than stop it, so nothing else ends the optimisation early.
        early_stopped = trainer.state.global_step < trainer.state.max_steps
        if early_stopped:
            info(
                f"early stopping after {trainer.state.epoch or 0:.2f} of {train.epochs:g} epochs ({trainer.state.global_step} of "
                f"{trainer.state.max_steps} steps): validation loss did not improve for {train.early_stopping_patience} evaluations"
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
        "peak_memory_mb": round(peak_memory_mb(placement), 1),
        "early_stopped": early_stopped,
        "epochs_planned": train.epochs if train.max_steps is None else None,
        # The guard's first projection of the optimisation's minutes, against train.max_minutes.
        "time_guard": {
            "max_minutes": train.max_minutes,
            "projected_minutes": round(guard.first_projection / 60, 2) if guard.first_projection is not None else None,
        },
        "steps_planned": int(trainer.state.max_steps),
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
        # What decided the numbers besides the data and params: dtype, device, ISA class, threads.
        "engine": engine,
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
        "train_records": len(train_enc.ids) - (replay_info or {}).get("records", 0),
        "val_records": len(val_enc.ids),
        "replay": replay_info,
        "train_record_ids_sha256": sha256_json(train_enc.ids),
        "dropped_records": train_enc.dropped,
        "truncated_records": train_enc.truncated,
        "long_records_dropped": train_enc.too_long,
        "hyperparameters": train.model_dump(mode="json"),
        "lora": train.lora.model_dump(mode="json"),
        "device": placement.device,
        "compute_dtype": placement.dtype_name,
        "engine": engine,
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
