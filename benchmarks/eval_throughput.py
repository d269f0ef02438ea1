"""Evaluate-stage wall time: evalgate vs lm-evaluation-harness on the same work.

Both answer the shipped tasks' golden items (the first --items of each task) with the bundled
base model and with the candidate (base + the trained adapter in models/adapter), greedy, same
chat-templated prompts, same max_new_tokens and stop strings, fp32 on CPU. Each run is a fresh
process; wall time includes process start and model loading.

- lm-eval: the same tasks as `generate_until` YAML (benchmarks/lm_eval_tasks), HF backend; its
  batch size is the fastest of --batch-sizes for the base model on the same items (its best
  run is the base run), and the candidate (`peft=`) runs at that size.
- evalgate cold: `evalgate evaluate` with an empty answer cache (base and candidate).
- evalgate after a data-only change: a retrained adapter (a new adapter hash) with the base
  answers already cached, which is what a data commit in CI looks like.

Prints both wall times and the ratios (targets: cold >= 2x, data-only change >= 3.5x).

    python benchmarks/eval_throughput.py [--items 24] [--batch-sizes 1 8 16 32] [--sweep-items N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TASKS = ["ticket_triage", "alarm_summary"]
COLD_TARGET, WARM_TARGET = 2.0, 3.5


def lm_eval_run(adapter: Path | None, batch_size: int, limit: int) -> dict:
    """One lm-eval run in a fresh process (as CI would start it)."""
    code = (
        "import json, sys; from pathlib import Path; sys.path.insert(0, 'benchmarks')\n"
        "from lmeval_baseline import run_lm_eval, default_model_dir\n"
        "adapter = Path(sys.argv[1]) if sys.argv[1] else None\n"
        "r = run_lm_eval(default_model_dir(), adapter, int(sys.argv[2]), int(sys.argv[3]))\n"
        "print(json.dumps({'wall_s': r['wall_s'] + r['import_s'], 'n_items': r['n_items'], 'outputs': r['outputs']}))"
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, str(adapter or ""), str(batch_size), str(limit)], cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"lm-eval failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    return result


def setup_project(root: Path, items: int, adapter: Path, cache: Path) -> None:
    shutil.copytree(REPO / "tasks", root / "tasks")
    (root / "golden_sets").mkdir()
    for task in TASKS:
        lines = (REPO / "golden_sets" / f"{task}.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        (root / "golden_sets" / f"{task}.jsonl").write_text("".join(lines[:items]), encoding="utf-8")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["evaluate"].update(adapter=str(adapter), cache=str(cache))
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def evalgate_run(root: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "evalgate", "evaluate"], cwd=root, capture_output=True, text=True,
        env={**os.environ, "EVALGATE_NO_PROGRESS": "1"},
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"evalgate evaluate failed:\n{proc.stderr[-3000:]}")
    return wall


def retrained_copy(adapter: Path, dest: Path) -> Path:
    """The adapter with its weights nudged: a new adapter hash, as after training on new data."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(adapter, dest)
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    save_file({k: v * 1.01 for k, v in weights.items()}, str(dest / "adapter_model.safetensors"))
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=24, help="golden items per task (the first N; all: 130)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16, 32])
    ap.add_argument(
        "--sweep-items", type=int, default=None,
        help="items per task for lm-eval's batch-size sweep (default: --items, so its best run is the base run)",
    )
    ap.add_argument("--adapter", type=Path, default=REPO / "models" / "adapter")
    args = ap.parse_args()
    if not (args.adapter / "adapter_model.safetensors").is_file():
        sys.exit(f"{args.adapter} has no trained adapter; run `make pipeline` (or `dvc repro train`) first")

    with tempfile.TemporaryDirectory(prefix="evalgate-eval-bench-") as tmp:
        tmp_path = Path(tmp)
        sweep_items = args.sweep_items or args.items
        print(f"lm-eval batch-size sweep ({sweep_items} items per task, base model):", flush=True)
        sweep = {}
        for bs in args.batch_sizes:
            sweep[bs] = lm_eval_run(None, bs, sweep_items)
            print(f"  batch {bs:>2}: {sweep[bs]['wall_s']:7.1f} s", flush=True)
        best = min(sweep, key=lambda bs: sweep[bs]["wall_s"])
        # Swept on the full item count, the best run *is* lm-eval's base run.
        lm_base = sweep[best] if sweep_items == args.items else lm_eval_run(None, best, args.items)
        lm_cand = lm_eval_run(args.adapter.resolve(), best, args.items)
        lm_total = lm_base["wall_s"] + lm_cand["wall_s"]
        n = lm_base["n_items"]

        root = tmp_path / "project"
        root.mkdir()
        cache = tmp_path / "predictions.sqlite"
        setup_project(root, args.items, args.adapter.resolve(), cache)
        cold = evalgate_run(root)
        new_adapter = retrained_copy(args.adapter, tmp_path / "adapter-retrained")
        params = yaml.safe_load((root / "params.yaml").read_text())
        params["evaluate"]["adapter"] = str(new_adapter)
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        warm = evalgate_run(root)

        # Same items, same prompts: the base answers should agree with lm-eval's.
        preds = [json.loads(line) for line in (root / "runs" / "base" / "predictions.jsonl").read_text().splitlines()]
        ours = {t: [p["output"] for p in preds if p["task"] == t] for t in TASKS}
        agree = sum(a.strip() == b.strip() for t in TASKS for a, b in zip(ours[t], lm_base["outputs"][t], strict=False))

    print()
    print(f"items: {n} per model ({args.items} per task), base + candidate; threads: torch default")
    print(f"lm-eval 0.4.13, HF backend, batch size {best}: base {lm_base['wall_s']:.1f} s + candidate {lm_cand['wall_s']:.1f} s = {lm_total:.1f} s")
    print(f"evalgate cold (empty cache):                {cold:.1f} s   ratio {lm_total / cold:.2f}x (target >= {COLD_TARGET}x)")
    print(f"evalgate after a data-only change:          {warm:.1f} s   ratio {lm_total / warm:.2f}x (target >= {WARM_TARGET}x)")
    print(f"base answers identical to lm-eval's: {agree}/{n}")


if __name__ == "__main__":
    main()
