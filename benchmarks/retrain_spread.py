"""The benign false-block rate of the bundled gate, and the verdicts on two harmful data commits.

On the bundled default (params.yaml, tasks/, golden_sets/, data/raw/):

1. `evalgate spread` (evalgate.spread): N retrains of the bundled data with seeds 1..N, each
   through prepare, train, evaluate, judge and forgetting, gated against the base, and every
   ordered pair gated with one as the promoted adapter. Prints the spread of every gated bound,
   the observed false-block rate over all N + N(N-1) gate runs, the rate predicted from the
   spread, and the floor or margin each check's spread supports.
2. Two harmful commits, each trained with `--bad-seeds` and gated against every benign retrain
   as the promoted adapter (so against N promoted adapters each): half the labels swapped among
   records (`labels`), and 80% of the triage answers rewritten from JSON to "Key: value" lines
   (`format`), both from benchmarks/data_commits.py. Every one of these gates must fail.

    python benchmarks/retrain_spread.py [--seeds 8] [--also-seeds 42] [--bad-seeds 1 2] [--work DIR] [--reuse]

`--also-seeds` adds retrains beyond 1..N (42 is the shipped seed), so a study can grow.

Exits 1 when the observed benign false-block rate is above 5% or a harmful commit passed. Every
run shares one evalgate cache (WORK/cache unless EVALGATE_CACHE_DIR is set), so the base's
answers, grades and forgetting results are computed once. About 20 minutes per retrain on 2
cores with bfloat16.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_commits import commit_data  # noqa: E402

from evalgate.spread import gate_pair, load_retrain, measure, retrain, stages_for, table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HARMFUL = ("labels", "format")


def harmful_project(work: Path, name: str, seed: int) -> Path:
    """A copy of the bundled project whose data/raw/ carries the harmful commit `name`."""
    src = work / f"{name}-source"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for sub in ("tasks", "golden_sets"):
        shutil.copytree(REPO / sub, src / sub)
    shutil.copy2(REPO / "params.yaml", src / "params.yaml")
    commit_data(name, src / "data" / "raw")
    return src


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--also-seeds", type=int, nargs="*", default=[], help="more benign seeds beyond 1..N")
    ap.add_argument("--bad-seeds", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--work", type=Path, default=REPO / ".evalgate" / "retrain-spread")
    ap.add_argument("--reuse", action="store_true", help="keep runs in --work that already reached a verdict")
    ap.add_argument("--rate", type=float, default=0.05)
    args = ap.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {"EVALGATE_CACHE_DIR": os.environ.get("EVALGATE_CACHE_DIR") or str(work / "cache")}
    os.environ.update(env)

    seeds = list(dict.fromkeys([*range(1, args.seeds + 1), *args.also_seeds]))
    result = measure(REPO, seeds, work / "benign", rate=args.rate, reuse=args.reuse, env=env)
    for line in table(result):
        print(line)
    benign = [load_retrain(s, work / "benign" / f"seed-{s}") for s in result["seeds"]]

    from evalgate.config import load_params

    stages = stages_for(load_params(REPO / "params.yaml"))
    env_all = {**os.environ, "EVALGATE_NO_PROGRESS": "1", **env}
    harmful_rows = []
    for name in HARMFUL:
        src = harmful_project(work, name, 0)
        for seed in args.bad_seeds:
            run = load_retrain(seed, retrain(src, work / name, seed, stages, env_all, args.reuse))
            for promoted in benign:
                report = gate_pair(promoted, run)
                failed = [c["name"] for c in report["checks"] if c["verdict"] == "fail"]
                harmful_rows.append((name, seed, promoted.seed, report["verdict"], failed))
    print(f"\n{'commit':8s} {'seed':>4s} {'vs promoted':>11s} {'verdict':8s} failing checks")
    for name, seed, promoted, verdict, failed in harmful_rows:
        print(f"{name:8s} {seed:>4d} {'seed ' + str(promoted):>11s} {verdict.upper():8s} {len(failed)}: {'; '.join(failed[:4])}{' ...' if len(failed) > 4 else ''}")
    missed = [r for r in harmful_rows if r[3] != "fail"]
    rate = result["observed_false_blocks"] / max(result["gates_run"], 1)
    summary = {
        "benign": {k: result[k] for k in ("seeds", "gates_run", "observed_false_blocks", "predicted_false_block_rate")},
        "observed_false_block_rate": rate,
        "harmful": [{"commit": n, "seed": s, "promoted_seed": p, "verdict": v, "failed": f} for n, s, p, v, f in harmful_rows],
    }
    (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"\nbenign retrains: {result['observed_false_blocks']} of {result['gates_run']} gate runs blocked ({rate:.1%}; "
        f"predicted from the spread {result['predicted_false_block_rate']:.1%}); harmful commits: "
        f"{len(harmful_rows) - len(missed)} of {len(harmful_rows)} blocked"
    )
    return 1 if rate > args.rate or missed else 0


if __name__ == "__main__":
    sys.exit(main())
