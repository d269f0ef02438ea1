"""The forgetting stage against lm-evaluation-harness's own CLI run twice, on the same tasks.

Run in a project that has run the pipeline (models/adapter and metrics/forgetting.json exist):

1. `evalgate forgetting` with the base results cached and the candidate's removed from the cache:
   what a data commit costs (target: <= 4 minutes on 2 CPU cores);
2. with `--cold`, `evalgate forgetting` with nothing cached (base and candidate, one model load);
3. the baseline: `lm_eval run --model hf` twice, once on the base (`pretrained=`), once with the
   adapter (`pretrained=...,peft=`), on the same staged task files, the same documents
   (`--samples`, from runs/forgetting_scores.jsonl), batch size and dtype, offline.

Each is a whole process, timed wall-clock, one after the other (nothing else should run). Prints
the times, the ratios (CLI twice / candidate-only stage; CLI twice / cold stage) and, as a check
that the same thing was measured, each task's accuracy from both.

    python benchmarks/forgetting_throughput.py [--params params.yaml] [--cold]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--cold", action="store_true", help="also time the stage with nothing cached")
    args = ap.parse_args()

    from evalgate.config import cache_dir, load_params
    from evalgate.forgetting.benchmarks import materialise
    from evalgate.forgetting.harness import ResultStore
    from evalgate.forgetting.tasks import discover, stage_folder
    from evalgate.loading import resolve_placement
    from evalgate.models import model_dir, resolve_base

    params = load_params(Path(args.params))
    metrics_path = Path("metrics/forgetting.json")
    if not metrics_path.is_file():
        raise SystemExit("run `evalgate forgetting` (or `dvc repro`) first: the benchmark reuses its document subsets")
    metrics = json.loads(metrics_path.read_text())
    keys = metrics["run"]["result_keys"]
    store = ResultStore(cache_dir() / "forgetting")
    evalgate = [str(Path(sys.executable).parent / "evalgate"), "forgetting", "--params", args.params]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

    # 1. Candidate only (base cached): what a data commit pays.
    _timed(evalgate, env)  # make sure both sides are cached
    for key in keys["candidate"].values():
        store._path(key).unlink(missing_ok=True)
    t_candidate = _timed(evalgate, env)
    # 2. Cold: both sides.
    t_cold = None
    if args.cold:
        for side in keys.values():
            for key in side.values():
                store._path(key).unlink(missing_ok=True)
        t_cold = _timed(evalgate, env)

    # 3. lm-eval's CLI, base then peft=, on the same staged files and documents.
    tasks = discover(Path(params.forgetting.tasks_dir), params.forgetting.tasks, Path(".").resolve())
    names = sorted({b for t in tasks for b in t.benchmarks})
    folder, _ = materialise(names, cache_dir())
    samples: dict[str, set[int]] = {}
    for line in Path("runs/forgetting_scores.jsonl").read_text().splitlines():
        row = json.loads(line)
        samples.setdefault(row["task"], set()).add(int(row["id"]))
    ref = resolve_base(params.model.base, params.model.revision)
    dtype = resolve_placement(params.evaluate.device, params.evaluate.compute_dtype).dtype_name
    lm_eval = str(Path(sys.executable).parent / "lm_eval")
    accuracy: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "tasks"
        stage_folder(Path(params.forgetting.tasks_dir), folder, staged)
        env_cli = {**env, "HF_DATASETS_CACHE": str(Path(tmp) / "hf")}
        times = {}
        for side, extra in (("base", ""), ("candidate", f",peft={Path(params.evaluate.adapter).resolve()}")):
            out = Path(tmp) / side
            cmd = [
                lm_eval, "run", "--model", "hf", "--model_args", f"pretrained={model_dir(ref)},dtype={dtype}{extra}",
                "--tasks", ",".join(sorted(samples)), "--include_path", str(staged),
                "--samples", json.dumps({t: sorted(ids) for t, ids in samples.items()}),
                "--batch_size", str(params.forgetting.batch_size), "--device", "cpu", "--output_path", str(out),
            ]  # fmt: skip
            times[side] = _timed(cmd, env_cli)
            result = json.loads(next(out.rglob("results_*.json")).read_text())
            for task, r in result["results"].items():
                if "acc,none" in r:
                    accuracy.setdefault(task, {})[side] = r["acc,none"]
        shutil.rmtree(staged, ignore_errors=True)
    t_cli = times["base"] + times["candidate"]
    print(f"evalgate forgetting, candidate only (base cached): {t_candidate:7.1f} s  (target <= 240 s)")
    if t_cold is not None:
        print(f"evalgate forgetting, cold (base + candidate):      {t_cold:7.1f} s")
    print(f"lm_eval CLI twice (base {times['base']:.1f} s + peft= {times['candidate']:.1f} s):  {t_cli:7.1f} s")
    print(f"ratio CLI twice / candidate-only stage: {t_cli / t_candidate:.2f}x")
    if t_cold is not None:
        print(f"ratio CLI twice / cold stage:           {t_cli / t_cold:.2f}x")
    print("accuracy, evalgate vs lm_eval CLI (same documents):")
    for task, m in sorted(metrics["tasks"].items()):
        if "acc" in m:
            cli = accuracy.get(task, {})
            print(f"  {task:14s} base {m['acc']['base']:.3f} vs {cli.get('base', float('nan')):.3f}   candidate {m['acc']['candidate']:.3f} vs {cli.get('candidate', float('nan')):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
