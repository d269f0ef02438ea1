"""What is trained is decided by the params, never by the clock: a slow machine trains the same
steps and the same adapter, or fails the stage before any adapter is written."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from evalgate.errors import EXIT_BAD_INPUT
from evalgate.training.trainer import TimeBudgetExceeded, TimeGuard


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_guard_projects_from_tokens_and_fails_only_when_the_projection_passes_the_budget():
    clock = FakeClock()
    guard = TimeGuard(10, total_tokens=100_000, clock=clock)  # 10 minutes
    guard.start = 0.0
    clock.now = 30.0
    guard.check(step=3, tokens_seen=5_000)  # too few steps to project: no decision
    assert guard.projected_seconds is None
    clock.now = 40.0
    guard.check(step=4, tokens_seen=10_000)  # 250 tokens/s: 400 s projected, within 600
    assert guard.projected_seconds == pytest.approx(400.0)
    clock.now = 100.0
    with pytest.raises(TimeBudgetExceeded) as err:
        guard.check(step=8, tokens_seen=12_000)  # 120 tokens/s: 833 s projected
    message = str(err.value)
    assert "\n" not in message
    for part in ("train.max_minutes=10", "about 14 minutes", "120 tokens/s", "100,000 tokens", "GPU", "bfloat16", "fewer train.epochs"):
        assert part in message, (part, message)


def test_guard_without_a_budget_never_fails():
    clock = FakeClock()
    guard = TimeGuard(None, total_tokens=1e9, clock=clock)
    clock.now = 1e6
    guard.check(step=100, tokens_seen=1)  # projected far past any budget: recorded, never raised
    assert guard.first_projection is not None and guard.first_projection > 1e6


class Throttle:
    """A TrainerCallback that makes every optimisation step slow, as a busy or slow runner would."""

    def __init__(self, seconds: float):
        from transformers import TrainerCallback

        throttle = self
        self.seconds = seconds
        self.slept = 0.0

        class Callback(TrainerCallback):  # type: ignore[misc]
            def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
                time.sleep(throttle.seconds)
                throttle.slept += throttle.seconds

        self.callback = Callback()


def _train(root: Path, callbacks=None) -> dict:
    from evalgate.config import load_params
    from evalgate.stages.train import run_train

    run_train(load_params(root / "params.yaml"), root, callbacks=callbacks)
    return json.loads((root / "metrics" / "train.json").read_text())


def test_a_throttled_run_trains_the_same_steps_and_the_same_adapter(trained_project):
    trained_project.params["train"].update(max_steps=8, max_minutes=30, early_stopping_patience=None)
    trained_project.write_params()
    fast = _train(trained_project.root)
    throttle = Throttle(0.25)
    slow = _train(trained_project.root, callbacks=[throttle.callback])
    assert slow["steps"] == fast["steps"] == slow["steps_planned"] == 8
    assert throttle.slept == pytest.approx(2.0) and slow["wall_seconds"] >= 2.0  # it really was slower
    assert slow["adapter_sha256"] == fast["adapter_sha256"]
    assert slow["early_stopped"] is False and "stopped_by_time_budget" not in slow
    assert slow["time_guard"]["max_minutes"] == 30 and 0 < slow["time_guard"]["projected_minutes"] < 30


def test_a_run_projected_past_max_minutes_fails_before_writing_any_adapter(trained_project, run_cli):
    root = trained_project.root
    trained_project.params["train"].update(max_steps=12, early_stopping_patience=None)
    trained_project.write_params()
    assert run_cli("train").exit_code == 0  # an adapter from an earlier run is there
    assert (root / "models" / "adapter" / "adapter_model.safetensors").is_file()

    trained_project.params["train"]["max_minutes"] = 0.0001  # 6 ms: any real step projects past it
    trained_project.write_params()
    result = run_cli("train")
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "tokens/s" in errors[0] and "would take about" in errors[0], result.output
    assert "Traceback" not in result.output
    # No adapter (neither a partial one nor the earlier run's) is left for evaluate to pick up.
    assert not (root / "models" / "adapter" / "adapter_model.safetensors").exists()
    assert not (root / "models" / "adapter" / "adapter_config.json").exists()
    assert not (root / "models" / "train_meta.json").exists()
    assert not (root / "metrics" / "train.json").exists()
    result = run_cli("evaluate")
    assert result.exit_code == EXIT_BAD_INPUT and "adapter" in result.output.lower(), result.output


def test_a_training_run_prints_nothing_a_user_cannot_act_on(trained_project):
    """A fresh run's stderr carries evalgate's own lines, not library noise: bitsandbytes' failed
    hub-kernel fetch, transformers' deprecation FutureWarnings read by PEFT and TRL, or progress
    bars in a log."""
    import os
    import subprocess
    import sys

    trained_project.params["train"].update(max_steps=2)
    trained_project.write_params()
    env = {k: v for k, v in os.environ.items() if k not in ("EVALGATE_NO_PROGRESS",)}
    out = subprocess.run(
        [sys.executable, "-m", "evalgate", "train"], cwd=trained_project.root, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    said = out.stdout + out.stderr
    for noise in ("gemm_4bit_forward", "kernels-community", "FutureWarning", "is_gradient_checkpointing", "it/s]"):
        assert noise not in said, (noise, said[-3000:])
    assert "trained 2 steps" in said
