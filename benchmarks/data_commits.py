"""Does the gate get real data commits right? Four commits against a promoted adapter, N seeds.

On the bundled default (params.yaml, tasks/, golden_sets/, data/raw/), for each training seed:

1. The adapter trained on the bundled data passes the gate and is promoted (`evalgate promote`).
2. Each data commit below is applied to data/raw/, the pipeline runs (prepare, train, evaluate,
   gate) with the same seed, and the gate decides against the base and the promoted adapter:

   * ``labels``: half of each file's outputs swapped to other records' outputs (a broken join);
     must FAIL.
   * ``format``: 80% of the triage answers rewritten from JSON to "Key: value" lines (an export
     that changed format); must FAIL.
   * ``reorder_dups``: every record shuffled and a fifth of them appended again verbatim, ids
     included (the same export appended twice); must PASS.
   * ``more_data``: the promoted adapter is first trained on 70% of each file (what an earlier
     commit had), then the full bundled data is the commit; must PASS.

Prints, per seed and commit, the verdict and the checks that decided it (the failing ones, or
that all passed), and exits 1 when a verdict is wrong. Every run shares one evalgate cache, so
the base model's answers and the frozen layers' states are computed once.

    python benchmarks/data_commits.py [--seeds 1 2 3] [--commits labels format reorder_dups more_data]
        [--work DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
EXPECTED = {"labels": "fail", "format": "fail", "reorder_dups": "pass", "more_data": "pass"}
RAW = REPO / "data" / "raw"
SALT = 20261205  # the commits' own randomness (which records are swapped, rewritten, repeated)


# ---------------------------------------------------------------------------- record editing


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def get_output(rec: dict[str, Any]) -> str:
    if "messages" in rec:
        return rec["messages"][-1]["content"]
    return rec["output"] if "output" in rec else rec["completion"]


def set_output(rec: dict[str, Any], text: str) -> dict[str, Any]:
    rec = json.loads(json.dumps(rec))
    if "messages" in rec:
        rec["messages"][-1]["content"] = text
    elif "output" in rec:
        rec["output"] = text
    else:
        rec["completion"] = text
    return rec


def corrupt_labels(rows: list[dict[str, Any]], share: float, rng: random.Random) -> list[dict[str, Any]]:
    """`share` of the records get another record's output (a cyclic shift among them: none keeps its own)."""
    picked = sorted(rng.sample(range(len(rows)), round(share * len(rows))))
    outputs = [get_output(rows[i]) for i in picked]
    out = list(rows)
    for k, i in enumerate(picked):
        out[i] = set_output(rows[i], outputs[(k + 1) % len(picked)])
    return out


def to_key_value(answer: str) -> str | None:
    try:
        obj = json.loads(answer)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    return "\n".join(f"{k.capitalize()}: {v}" for k, v in obj.items())


def change_format(rows: list[dict[str, Any]], share: float, rng: random.Random) -> list[dict[str, Any]]:
    """`share` of the JSON answers rewritten as "Key: value" lines."""
    json_rows = [i for i, r in enumerate(rows) if to_key_value(get_output(r)) is not None]
    picked = set(rng.sample(json_rows, round(share * len(json_rows))))
    return [set_output(r, to_key_value(get_output(r)) or "") if i in picked else r for i, r in enumerate(rows)]


def reorder_and_duplicate(rows: list[dict[str, Any]], share: float, rng: random.Random) -> list[dict[str, Any]]:
    out = list(rows)
    rng.shuffle(out)
    return out + rng.sample(rows, round(share * len(rows)))


def keep_share(rows: list[dict[str, Any]], share: float, rng: random.Random) -> list[dict[str, Any]]:
    keep = set(rng.sample(range(len(rows)), round(share * len(rows))))
    return [r for i, r in enumerate(rows) if i in keep]


def commit_data(name: str, dest: Path) -> None:
    """Write the bundled data/raw with commit `name` applied into `dest`."""
    for path in sorted(RAW.glob("*.jsonl")):
        rows = read_jsonl(path)
        rng = random.Random(f"{SALT}:{name}:{path.name}")
        if name == "labels":
            rows = corrupt_labels(rows, 0.5, rng)
        elif name == "format":
            rows = change_format(rows, 0.8, rng)
        elif name == "reorder_dups":
            rows = reorder_and_duplicate(rows, 0.2, rng)
        elif name == "fewer":
            rows = keep_share(rows, 0.7, rng)
        elif name not in ("bundled", "more_data"):
            raise ValueError(name)
        write_jsonl(dest / path.name, rows)


# ---------------------------------------------------------------------------- pipeline runs


def evalgate(root: Path, *args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "evalgate", *args], cwd=root, env=env, capture_output=True, text=True)
    if check and proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"evalgate {' '.join(args)} failed in {root} (exit {proc.returncode})")
    return proc


def project(work: Path, name: str, seed: int) -> Path:
    root = work / f"seed{seed}" / name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for sub in ("tasks", "golden_sets"):
        shutil.copytree(REPO / sub, root / sub)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"]["seed"] = seed
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def run_pipeline(root: Path, data: str, env: dict[str, str], registry: Path | None) -> dict[str, Any]:
    commit_data(data, root / "data" / "raw")
    if registry is not None:
        shutil.copytree(registry, root / "registry")
    start = time.perf_counter()
    for stage in ("prepare", "train", "evaluate"):
        evalgate(root, stage, env=env)
    evalgate(root, "gate", "--no-fail", env=env)
    report = json.loads((root / "reports" / "gate.json").read_text())
    report["_seconds"] = time.perf_counter() - start
    return report


def promote(root: Path, env: dict[str, str]) -> Path:
    proc = evalgate(root, "promote", env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"could not promote the baseline in {root}: {proc.stderr.strip()[-500:]}")
    return root / "registry"


def promoted_before(work: Path, name: str, seed: int) -> Path | None:
    """The registry of a baseline an earlier run in `work` trained, passed and promoted (--reuse)."""
    root = work / f"seed{seed}" / name
    gate = root / "reports" / "gate.json"
    if not (root / "registry" / "promoted.json").is_file() or not gate.is_file():
        return None
    if json.loads(gate.read_text()).get("verdict") != "pass":
        return None
    print(f"seed {seed}: {name} baseline reused from {root} (passed and promoted earlier)", flush=True)
    return root / "registry"


def deciding(report: dict[str, Any]) -> str:
    failed = [c for c in report["checks"] if c["verdict"] == "fail"]
    if failed:
        return "; ".join(f"{c['name']} ({_short(c)})" for c in failed)
    promoted = [c for c in report["checks"] if c["kind"] == "max_drop_vs_promoted" and c["verdict"] == "pass"]
    tightest = min(promoted, key=lambda c: (c["ci"][0] - c["threshold"]) if c.get("ci") else 9, default=None)
    note = f"; closest vs promoted: {tightest['name']} ({_short(tightest)})" if tightest else ""
    return f"all {report['counts']['passed']} checks passed{note}"


def _short(c: dict[str, Any]) -> str:
    if c.get("uninformative"):
        return "uninformative"
    if c.get("ci") is None:
        return c.get("reason", "")[:60]
    holm = "; fails after Holm" if "after Holm correction" in c.get("reason", "") else ""
    if c["kind"] == "min":
        return f"{c['estimate']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] vs floor {c['threshold']:.3f}{holm}"
    return f"{c['estimate']:+.3f} [{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}] vs bound {c['threshold']:+.3f}{holm}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--commits", nargs="+", default=list(EXPECTED), choices=list(EXPECTED))
    ap.add_argument("--work", type=Path, default=None, help="working directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    ap.add_argument("--cache", type=Path, default=None, help="the evalgate cache the runs share (default: WORK/cache)")
    ap.add_argument(
        "--reuse", action="store_true",
        help="with --work: reuse a seed's promoted baselines (bundled, fewer) from an earlier run there instead of retraining them",
    )
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="evalgate-commits-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "EVALGATE_NO_PROGRESS": "1", "EVALGATE_CACHE_DIR": str(args.cache or work / "cache")}
    rows, wrong = [], 0
    try:
        for seed in args.seeds:
            registry = None
            if any(c != "more_data" for c in args.commits):  # more_data promotes its own baseline
                registry = promoted_before(work, "bundled", seed) if args.reuse else None
                if registry is None:
                    baseline = project(work, "bundled", seed)
                    report = run_pipeline(baseline, "bundled", env, None)
                    print(f"seed {seed}: bundled data: gate {report['verdict']} ({report['summary']})", flush=True)
                    if report["verdict"] != "pass":
                        print("  the bundled data must pass before anything is promoted", flush=True)
                        wrong += 1
                        continue
                    registry = promote(baseline, env)
            fewer_registry = promoted_before(work, "fewer", seed) if args.reuse else None
            for commit in args.commits:
                if commit == "more_data":
                    if fewer_registry is None:
                        fewer = project(work, "fewer", seed)
                        r = run_pipeline(fewer, "fewer", env, None)
                        if r["verdict"] != "pass":
                            print(f"seed {seed}: the 70% baseline did not pass ({r['summary']}); cannot promote it", flush=True)
                            wrong += 1
                            continue
                        fewer_registry = promote(fewer, env)
                    report = run_pipeline(project(work, commit, seed), "more_data", env, fewer_registry)
                else:
                    report = run_pipeline(project(work, commit, seed), commit, env, registry)
                ok = report["verdict"] == EXPECTED[commit]
                wrong += not ok
                rows.append((seed, commit, report["verdict"], ok, deciding(report), report["_seconds"]))
                print(f"seed {seed}: {commit:13s} {report['verdict'].upper():4s} {'ok' if ok else 'WRONG'}  {deciding(report)}", flush=True)
    finally:
        if args.work is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\nseed  commit         expected  verdict  right  deciding checks")
    for seed, commit, verdict, ok, why, _ in rows:
        print(f"{seed:<5} {commit:14s} {EXPECTED[commit]:9s} {verdict:8s} {'yes' if ok else 'NO':6s} {why}")
    print(f"\n{len(rows) - sum(not r[3] for r in rows)} of {len(rows)} verdicts right")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
