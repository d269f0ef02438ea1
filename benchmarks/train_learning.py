"""What the demo's training buys per CPU-minute: a learning curve, per-phase timing, and the
trainer this project shipped before (the whole model at every step, 32 steps) side by side.

Everything is measured on the validation split that `prepare` writes (never on golden items):
each validation record is a prompt in its task's format, its answer the reference, scored by
the task's own scorers (BERTScore left out for time). Three runs on the bundled data, each on
the same prepared records:

1. ``before``: the train section this project shipped before (QLoRA NF4, r 8, lr 5e-4, 32
   steps of 4 records, the whole model forward and backward at every step);
2. ``cached``: the shipped train section (params.yaml): the frozen lower layers' states are
   computed once, then the adapted layers train on them for every epoch; the adapter is
   snapshotted at the end of each epoch and each snapshot scored (the learning curve);
3. ``recomputed``: the shipped train section with ``frozen_layers: recomputed`` (the whole
   model at every step), for ``--recomputed-epochs`` (default 0.25) epochs: its time per epoch
   next to the cached path's. Both compute the same adapter (tests/test_train_cached.py), so
   its quality at a given epoch is the cached path's.

Prints the learning curve (quality after each epoch against training minutes), each run's
phase timing and CPU minutes, quality per CPU-minute of each trainer, and the speed-up of the
cached path per epoch. Models load from the evalgate cache (`make setup` installs the base).

    python benchmarks/train_learning.py [--dtype auto] [--recomputed-epochs 0.25] [--skip-before]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BEFORE = {  # the train section of params.yaml before the cached trainer
    "quantization": "nf4", "compute_dtype": "float32", "frozen_layers": "recomputed",
    "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear", "layers": [26, 27, 28, 29]},
    "learning_rate": 0.0005, "lr_scheduler": "cosine", "warmup_ratio": 0.05, "epochs": 1, "max_steps": 32,
    "batch_size": 4, "grad_accum": 1, "max_length": 512, "long_records": "truncate", "max_train_records": None,
    "max_val_records": 16, "group_by_length": True, "seed": 42, "eval_steps": 16, "early_stopping_patience": 3,
    "logging_steps": 5,
}
QUALITY = [("ticket_triage", "json_valid"), ("ticket_triage", "json_schema"), ("ticket_triage", "category_exact"),
           ("ticket_triage", "urgency_exact"), ("alarm_summary", "rougeL")]


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------------------- validation quality


def task_of(messages: list[dict[str, str]], tasks: list[Any]) -> Any:
    """The task whose prompt format a validation record has (its system prompt, or its user
    template's fixed opening)."""
    for t in tasks:
        if t.spec.system_prompt and messages[0]["role"] == "system" and messages[0]["content"].strip() == t.spec.system_prompt.strip():
            return t
    user = next(m["content"] for m in messages if m["role"] == "user")
    for t in tasks:
        opening = t.spec.user_template.split("{{")[0].strip()
        if opening and not t.spec.system_prompt and user.startswith(opening):
            return t
    return None


def val_quality(root: Path, params: Any, adapter: Path | None) -> dict[str, dict[str, float]]:
    """The task scorers on the validation split's answers by the base (adapter None) or an adapter."""
    from evalgate.generate import Request
    from evalgate.generate.hf import HFBackend
    from evalgate.loading import resolve_placement
    from evalgate.models import load_tokenizer, resolve_base
    from evalgate.prompts import render_prompt
    from evalgate.tasks import build_scorers, load_tasks
    from evalgate.training.data import read_prepared

    tasks = load_tasks(root / params.tasks_dir)
    ref = resolve_base(params.model.base)
    tok = load_tokenizer(ref)
    records = read_prepared(root / params.prepare.output_dir / "val.jsonl")
    ev = params.evaluate
    backend = HFBackend(
        ref, tok, adapter_dir=adapter, quantization=ev.quantization, placement=resolve_placement(ev.device, ev.compute_dtype),
        token_budget=ev.token_budget, max_batch_size=ev.max_batch_size,
    )
    out: dict[str, dict[str, float]] = {}
    try:
        for task in tasks:
            recs = [r for r in records if task_of(r["messages"], tasks) is task]
            if not recs:
                continue
            gen = task.spec.generation
            reqs = [Request(str(i), render_prompt(tok, r["messages"][:-1]), gen.max_new_tokens, tuple(gen.stop), task.name) for i, r in enumerate(recs)]
            got: dict[int, Any] = {}
            for chunk in backend.generate(reqs, adapter=adapter is not None):
                got.update(dict(chunk))
            answers = [got[i].text for i in range(len(reqs))]
            refs: list[Any] = []
            for r in recs:
                text = r["messages"][-1]["content"]
                try:
                    refs.append(json.loads(text) if text.lstrip().startswith("{") else text)
                except ValueError:
                    refs.append(text)
            scores: dict[str, float] = {"n": float(len(recs)), "cut": sum(got[i].finish_reason == "length" for i in got) / len(recs)}
            for entry, scorer in build_scorers(task):
                if entry.scorer == "bertscore":
                    continue
                vals = [s.value for s in scorer.score(answers, refs, [{"reference": x} for x in refs]) if s.value is not None]
                scores[entry.metric_name] = sum(vals) / len(vals) if vals else 0.0
            out[task.name] = scores
    finally:
        backend.close()
    return out


# ---------------------------------------------------------------------------- runs


def setup(work: Path) -> Path:
    root = work / "project"
    root.mkdir(parents=True)
    for sub in ("tasks", "golden_sets", "data/raw"):
        shutil.copytree(REPO / sub, root / sub)
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    subprocess.run([sys.executable, "-m", "evalgate", "prepare"], cwd=root, check=True, capture_output=True)
    return root


def with_train(root: Path, overrides: dict[str, Any], out: str) -> Any:
    from evalgate.config import Params

    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["train"] = {**raw["train"], **overrides, "output_dir": out}
    return Params.model_validate(raw)


def train_run(root: Path, params: Any, snapshots: Path | None = None) -> dict[str, Any]:
    """Train in this process; with `snapshots`, save the adapter at the end of every epoch."""
    from transformers import TrainerCallback

    from evalgate.stages.train import run_train

    saved: list[tuple[float, float, Path]] = []
    start_wall, start_cpu = time.perf_counter(), cpu_seconds()

    class Snapshot(TrainerCallback):  # type: ignore[misc]
        def on_epoch_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            assert snapshots is not None
            path = snapshots / f"epoch{round(state.epoch or 0)}"
            model.save_pretrained(str(path))
            saved.append((state.epoch or 0.0, time.perf_counter() - start_wall, path))

    meta = run_train(params, root, callbacks=[Snapshot()] if snapshots else None)
    return {
        "metrics": meta["metrics"],
        "wall_s": time.perf_counter() - start_wall,
        "cpu_s": cpu_seconds() - start_cpu,
        "snapshots": saved,
    }


def fmt_quality(q: dict[str, dict[str, float]]) -> str:
    return "  ".join(f"{m} {q.get(t, {}).get(m, float('nan')):.3f}" for t, m in QUALITY)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recomputed-epochs", type=float, default=0.25)
    ap.add_argument("--skip-before", action="store_true")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("EVALGATE_NO_PROGRESS", "1")
    from evalgate.config import load_params

    work = args.work or Path(tempfile.mkdtemp(prefix="evalgate-learning-"))
    try:
        root = setup(work)
        shipped = load_params(root / "params.yaml")
        results: dict[str, Any] = {}
        base_q = val_quality(root, shipped, None)
        print(f"base model on the validation split: {fmt_quality(base_q)}", flush=True)

        if not args.skip_before:
            before = train_run(root, with_train(root, BEFORE, "models/before"))
            before["quality"] = val_quality(root, shipped, root / "models/before")
            results["before"] = before
            print(f"before  ({before['metrics']['steps']} steps, {before['metrics']['epochs']:.2f} epochs, "
                  f"{before['wall_s'] / 60:.1f} min): {fmt_quality(before['quality'])}", flush=True)

        cached = train_run(root, with_train(root, {}, "models/cached"), snapshots=work / "snapshots")
        curve = []
        for epoch, minutes, path in cached["snapshots"]:
            curve.append((epoch, minutes / 60, val_quality(root, shipped, path)))
            print(f"cached  epoch {epoch:.0f} at {minutes / 60:.1f} min: {fmt_quality(curve[-1][2])}", flush=True)
        cached["quality"] = curve[-1][2] if curve else val_quality(root, shipped, root / "models/cached")
        results["cached"] = cached

        epochs = args.recomputed_epochs
        rec = train_run(root, with_train(root, {"frozen_layers": "recomputed", "epochs": epochs, "eval_steps": 10**6}, "models/recomputed"))
        results["recomputed"] = rec
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    cm = results["cached"]["metrics"]
    phases = cm["phase_seconds"]
    print("\nlearning curve (validation split; training minutes include the frozen layers' pass):")
    print("epoch  minutes  " + "  ".join(f"{t.split('_')[0]}/{m}" for t, m in QUALITY))
    print("0      0.0      " + "  ".join(f"{base_q.get(t, {}).get(m, 0):.3f}" for t, m in QUALITY))
    for epoch, minutes, q in curve:
        print(f"{epoch:<6.0f} {minutes + phases.get('lower_layers_s', 0) / 60:<8.1f} " + "  ".join(f"{q[t][m]:.3f}" for t, m in QUALITY))
    print(f"\ncached path phases (s): {json.dumps(phases)}; {cm['epochs']} epochs, {cm['steps']} steps")
    per_epoch_cached = phases["train_s"] / cm["epochs"]
    rm = results["recomputed"]["metrics"]
    per_epoch_full = rm["phase_seconds"]["train_s"] / max(rm["epochs"], 1e-9)
    print(f"time per epoch: cached {per_epoch_cached:.0f} s (+ {phases.get('lower_layers_s', 0):.0f} s once), "
          f"recomputed {per_epoch_full:.0f} s ({rm['epochs']} epochs measured): "
          f"{per_epoch_full / per_epoch_cached:.2f}x per epoch; for {cm['epochs']} epochs "
          f"{per_epoch_full * cm['epochs'] / (per_epoch_cached * cm['epochs'] + phases.get('lower_layers_s', 0)):.2f}x")
    rows = [("before", results.get("before")), ("cached", results["cached"])]
    print("\ntrainer   CPU-min  wall-min  " + "  ".join(m for _, m in QUALITY) + "  category per CPU-min")
    for name, r in rows:
        if r is None:
            continue
        q = r["quality"]
        cat = q["ticket_triage"]["category_exact"]
        print(f"{name:9s} {r['cpu_s'] / 60:<8.1f} {r['wall_s'] / 60:<9.1f} " + "  ".join(f"{q[t][m]:.3f}" for t, m in QUALITY)
              + f"  {cat / (r['cpu_s'] / 60):.3f}")
    if "before" in results:
        b, c = results["before"], results["cached"]
        gain_b = b["quality"]["ticket_triage"]["category_exact"] / (b["cpu_s"] / 60)
        gain_c = c["quality"]["ticket_triage"]["category_exact"] / (c["cpu_s"] / 60)
        print(f"category_exact per CPU-minute: cached {gain_c:.3f} vs before {gain_b:.3f} "
              f"({'inf' if gain_b == 0 else f'{gain_c / gain_b:.1f}'}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
