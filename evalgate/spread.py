"""Retrain spread: how far benign retrains of the same data move every gated number, and which
floors and margins that supports (`evalgate spread`).

A gate that blocks a retrain of unchanged data is as wrong as one that passes a broken one. The
same data, trained again with another seed, gives another adapter: its scores move by an amount
only measurement can tell. This module trains the project N times with seeds 1..N (each in its
own copy of the project, all sharing the evalgate cache, so the base's answers, grades and
forgetting results are computed once), then:

* gates every retrain against the base with the project's policy (floors, gains, no-worse-than
  checks): a benign retrain that fails is a false block;
* gates every retrain against every other one as the promoted adapter (the
  `max_drop_vs_promoted` checks), N x (N - 1) ordered pairs;
* per check, from the bounds the gate decided on: their mean and spread over the retrains, the
  share that failed, and the threshold a new retrain would clear with probability 1 - r (a
  one-sided prediction bound with Student's t over N - 1 degrees of freedom, so few retrains
  give wide bounds), where r is the allowed false-block rate split evenly over the checks that
  decide (a union bound: the whole gate then blocks a benign retrain with probability at most
  the rate).

Bounds are oriented so that larger is better: a floor's check reads the CI's lower bound (the
upper one, negated, for lower-is-better metrics); a drop margin m is the oriented threshold -m,
a required gain m is +m.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evalgate.artifacts import sha256_file, write_json_atomic
from evalgate.config import Params, load_params
from evalgate.contract import PATHS, SCHEMA_VERSION, PromotionRecord, write_artifact
from evalgate.errors import InputError

# Not copied into a retrain's project: outputs, caches, environments, version control.
SKIP = {".git", ".dvc", ".venv", "venv", ".evalgate", "models", "runs", "reports", "metrics", "plots", "registry", "__pycache__", ".pytest_cache", ".ruff_cache"}


@dataclass
class Retrain:
    seed: int
    root: Path
    gate: dict[str, Any]
    directions: dict[str, bool] = field(default_factory=dict)
    """Per check target: whether higher is better."""


def seeded_params(root: Path, seed: int) -> dict[str, Any]:
    """The project's params with `train.seed` set to `seed`."""
    data = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    data.setdefault("train", {})["seed"] = seed
    return data


def copy_project(root: Path, dest: Path, seed: int, skip: set[str]) -> None:
    """The project as it is (data, tasks, golden sets, params), its outputs left out, with
    `train.seed` set to `seed`."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for entry in root.iterdir():
        if entry.name in SKIP or entry.name in skip:
            continue
        target = dest / entry.name
        if entry.is_dir():
            shutil.copytree(entry, target, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(entry, target)
    write_params(dest, seeded_params(root, seed))


def write_params(dest: Path, data: dict[str, Any]) -> None:
    (dest / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def stages_for(params: Params) -> list[str]:
    """The stages whose results the policy reads, in pipeline order."""
    assert params.gate is not None
    sources = {c.source for c in params.gate.checks}
    out = ["prepare", "train", "evaluate"]
    if "judge" in sources:
        out.append("judge")
    if "forgetting" in sources:
        out.append("forgetting")
    return out


def run_stage(root: Path, stage: str, env: dict[str, str], log: Path) -> None:
    # -P: the installed evalgate runs, never a package of that name inside the copied project.
    args = [sys.executable, "-P", "-m", "evalgate", stage] + (["--no-fail"] if stage == "gate" else [])
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"$ evalgate {' '.join(args[4:])}\n")
        fh.flush()
        proc = subprocess.run(args, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if proc.returncode not in (0, 1):
        raise InputError(f"{root}: `evalgate {stage}` exited {proc.returncode}; see {log}")


def retrain(root: Path, work: Path, seed: int, stages: list[str], env: dict[str, str], reuse: bool) -> Path:
    """One retrain's project under `work`, its pipeline run to a gate verdict against the base.
    With `reuse`, a retrain that reached a verdict with the same params is kept; one whose params
    differ only in the gate policy is gated again (nothing retrained)."""
    dest = work / f"seed-{seed}"
    done = dest / PATHS["gate.report"]
    wanted = seeded_params(root, seed)
    if reuse and done.is_file():
        have = yaml.safe_load((dest / "params.yaml").read_text(encoding="utf-8"))
        if have == wanted:
            return dest
        if {k: v for k, v in have.items() if k != "gate"} == {k: v for k, v in wanted.items() if k != "gate"}:
            write_params(dest, wanted)
            run_stage(dest, "gate", env, dest / "spread.log")
            return dest
    skip = {work.relative_to(root).parts[0]} if work.is_relative_to(root) else set()
    copy_project(root, dest, seed, skip)
    log = dest / "spread.log"
    for stage in [*stages, "gate"]:
        run_stage(dest, stage, env, log)
    return dest


def load_retrain(seed: int, root: Path) -> Retrain:
    gate = json.loads((root / PATHS["gate.report"]).read_text(encoding="utf-8"))
    return Retrain(seed, root, gate, directions(root))


def directions(root: Path) -> dict[str, bool]:
    """Per gated target (`task/metric`, `judge:task/metric`, ...), whether higher is better."""
    out: dict[str, bool] = {}
    for source in ("eval", "judge", "forgetting"):
        path = root / PATHS[f"{source}.metrics"]
        if not path.is_file():
            continue
        tasks = json.loads(path.read_text(encoding="utf-8")).get("tasks", {})
        prefix = "" if source == "eval" else f"{source}:"
        for task, metrics in tasks.items():
            for metric, summary in metrics.items():
                if isinstance(summary, dict) and "higher_is_better" in summary:
                    out[f"{prefix}{task}/{metric}"] = bool(summary["higher_is_better"])
    return out


def promote_into(promoted: Retrain, candidate: Retrain, folder: str) -> Path:
    """Write `promoted`'s evaluate scores as a promotion record inside `candidate`'s project (a
    promotion the gate never decided: only for measuring the spread). Returns the record's path."""
    eval_metrics = json.loads((promoted.root / PATHS["eval.metrics"]).read_text(encoding="utf-8"))
    prov = eval_metrics["provenance"]
    base = candidate.root / folder
    scores = base / "scores.jsonl"
    scores.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(promoted.root / prov["scores_file"], scores)
    record = {
        "schema_version": SCHEMA_VERSION,
        "adapter_sha256": prov["adapter"]["sha256"],
        "adapter_dir": prov["adapter"]["dir"],
        "golden_sets": {t: i["golden_set_sha256"] for t, i in prov["tasks"].items() if i.get("golden_set_sha256")},
        "metrics": eval_metrics["tasks"],
        "scores_file": str(scores.relative_to(candidate.root)),
        "scores_sha256": sha256_file(scores),
    }
    path = base / "promoted.json"
    write_artifact(path, PromotionRecord, record)
    return path


def gate_pair(promoted: Retrain, candidate: Retrain) -> dict[str, Any]:
    """`candidate` gated with its project's policy against `promoted` as the promoted adapter."""
    from evalgate.stages.gate import run_gate

    folder = f".spread/vs-seed-{promoted.seed}"
    record = promote_into(promoted, candidate, folder)
    params = load_params(candidate.root / "params.yaml")
    assert params.gate is not None
    gate = params.gate.model_copy(update={"promoted": str(record.relative_to(candidate.root)), "output": f"{folder}/gate.json"})
    return run_gate(params.model_copy(update={"gate": gate}), candidate.root)


# ------------------------------------------------------------------------------------ analysis


def oriented(check: dict[str, Any], higher: bool) -> tuple[float, float] | None:
    """(bound, threshold) of a decided check, oriented so that larger is better and it passes
    on its interval when bound >= threshold; None when the check was not decided on an interval."""
    ci, thr = check.get("ci"), check.get("threshold")
    if not ci or ci[0] is None or ci[1] is None or thr is None:
        return None
    return (float(ci[0]), float(thr)) if higher else (-float(ci[1]), -float(thr))


def _moments(values: list[float], independent: int | None) -> tuple[float, float, int] | None:
    """Mean, sample sd and the number of independent draws behind `values` (None below 3).

    The values of a vs-promoted check come from every ordered pair of N retrains: N (N - 1)
    numbers, but only N independent retrains behind them, so the t distribution's degrees of
    freedom and the prediction's 1/n term count retrains, not pairs."""
    n = len(values)
    k = min(independent or n, n)
    if k < 3:
        return None
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, sd, k


def prediction_low(values: list[float], rate: float, independent: int | None = None) -> float | None:
    """The value a new draw stays above with probability 1 - rate: a one-sided Student-t
    prediction bound from `values` (None with fewer than 3 independent draws)."""
    from scipy import stats

    m = _moments(values, independent)
    if m is None:
        return None
    mean, sd, k = m
    return mean - float(stats.t.ppf(1 - rate, k - 1)) * sd * math.sqrt(1 + 1 / k)


def fail_probability(values: list[float], threshold: float, independent: int | None = None) -> float | None:
    """The predictive probability that a new draw falls below `threshold` (Student t, as above)."""
    from scipy import stats

    m = _moments(values, independent)
    if m is None:
        return None
    mean, sd, k = m
    if sd == 0:
        return 0.0 if mean >= threshold else 1.0
    return float(stats.t.cdf((threshold - mean) / (sd * math.sqrt(1 + 1 / k)), k - 1))


def supported(kind: str, oriented_threshold: float, higher: bool) -> float:
    """The policy value (a floor, a ceiling for lower-is-better metrics, or a margin) for an
    oriented threshold."""
    if kind == "min":
        return oriented_threshold if higher else -oriented_threshold
    if kind == "min_gain_vs_base":
        return oriented_threshold
    return max(0.0, -oriented_threshold)  # max_drop_*: the oriented threshold is -margin


def analyse(retrains: list[Retrain], pairs: dict[tuple[int, int], dict[str, Any]], rate: float) -> dict[str, Any]:
    """Per check: the oriented bounds over the retrains (vs-promoted checks: over the pairs),
    their spread, the observed failures, the predictive false-block probability at the policy's
    threshold and the threshold the spread supports; and the whole gate's false-block rate."""
    checks: dict[str, dict[str, Any]] = {}

    def add(check: dict[str, Any], higher: bool | None, who: str) -> None:
        entry = checks.setdefault(check["name"], {"name": check["name"], "target": check["target"], "kind": check["kind"], "bounds": [], "estimates": [], "verdicts": {}, "threshold": check.get("threshold")})
        entry["verdicts"][who] = check["verdict"]
        if check.get("estimate") is not None:
            entry["estimates"].append(float(check["estimate"]))
        if higher is None or check["verdict"] in ("skipped", "advisory"):
            return
        o = oriented(check, higher)
        if o is not None:
            entry["bounds"].append(o[0])
            entry["oriented_threshold"] = o[1]
            entry["higher_is_better"] = higher

    for r in retrains:
        for c in r.gate["checks"]:
            if c["kind"] != "max_drop_vs_promoted":
                add(c, r.directions.get(c["target"]), f"seed {r.seed}")
    by_seed = {r.seed: r for r in retrains}
    for (i, j), report in pairs.items():
        for c in report["checks"]:
            if c["kind"] == "max_drop_vs_promoted":
                add(c, by_seed[j].directions.get(c["target"]), f"seed {j} vs promoted seed {i}")

    deciding = [e for e in checks.values() if e["bounds"]]
    per_check = rate / max(len(deciding), 1)
    for e in checks.values():
        b = e.pop("bounds")
        verdicts = e["verdicts"]
        e["runs"] = len(verdicts)
        e["failed"] = sum(v == "fail" for v in verdicts.values())
        e["advisory"] = all(v in ("advisory", "skipped") for v in verdicts.values())
        if not b:
            continue
        n = len(b)
        mean = sum(b) / n
        e["bound_mean"] = round(mean, 4)
        e["bound_sd"] = round(math.sqrt(sum((v - mean) ** 2 for v in b) / (n - 1)), 4) if n > 1 else None
        est = e["estimates"]
        if len(est) > 1:
            m = sum(est) / len(est)
            e["estimate_sd"] = round(math.sqrt(sum((v - m) ** 2 for v in est) / (len(est) - 1)), 4)
            e["estimate_range"] = [round(min(est), 4), round(max(est), 4)]
        independent = len(retrains) if e["kind"] == "max_drop_vs_promoted" else None
        p = fail_probability(b, e["oriented_threshold"], independent)
        e["false_block_probability"] = None if p is None else round(p, 4)
        low = prediction_low(b, per_check, independent)
        e["supported"] = None if low is None else round(supported(e["kind"], low, e["higher_is_better"]), 4)
        e["supported_at_rate"] = per_check
    whole: dict[str, str] = {}
    for r in retrains:
        whole[f"seed {r.seed}"] = r.gate["verdict"]
    for (i, j), report in pairs.items():
        whole[f"seed {j} vs promoted seed {i}"] = report["verdict"]
    probs = [e["false_block_probability"] for e in checks.values() if e.get("false_block_probability") is not None]
    model_rate = 1.0 - math.prod(1.0 - p for p in probs) if probs else None
    for e in checks.values():
        e.pop("estimates", None)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "evalgate.spread",
        "seeds": [r.seed for r in retrains],
        "rate": rate,
        "per_check_rate": per_check,
        "gates": whole,
        "observed_false_blocks": sum(v == "fail" for v in whole.values()),
        "gates_run": len(whole),
        "predicted_false_block_rate": None if model_rate is None else round(model_rate, 4),
        "checks": list(checks.values()),
    }


def measure(
    root: Path, seeds: list[int], work: Path, *, rate: float = 0.05, reuse: bool = False, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Train and gate the project once per seed, gate each retrain against each other one, and
    analyse the spread (see the module docstring). Writes `<work>/spread.json`."""
    from evalgate.ui import info

    params = load_params(root / "params.yaml")
    if params.gate is None:
        raise InputError("params.yaml: gate: section is missing; the spread is measured against the gate policy")
    if len(seeds) < 3:
        raise InputError("spread: give at least 3 seeds (8 or more for margins worth shipping)")
    env = {**os.environ, "EVALGATE_NO_PROGRESS": "1", **(env or {})}
    stages = stages_for(params)
    retrains = []
    for seed in seeds:
        info(f"spread: seed {seed}: {', '.join(stages)}, gate")
        retrains.append(load_retrain(seed, retrain(root, work, seed, stages, env, reuse)))
    pairs: dict[tuple[int, int], dict[str, Any]] = {}
    if any(c.kind == "max_drop_vs_promoted" for c in params.gate.checks):
        for p in retrains:
            for c in retrains:
                if p.seed != c.seed:
                    pairs[(p.seed, c.seed)] = gate_pair(p, c)
    result = analyse(retrains, pairs, rate)
    write_json_atomic(work / "spread.json", result)
    return result


def table(result: dict[str, Any]) -> list[str]:
    """The analysis as lines for a terminal."""
    lines = [
        f"{result['gates_run']} gate runs over {len(result['seeds'])} retrains: {result['observed_false_blocks']} blocked "
        f"(observed false-block rate {result['observed_false_blocks'] / max(result['gates_run'], 1):.1%}); predicted from the spread "
        f"{_pct(result['predicted_false_block_rate'])}",
        f"supported thresholds: a new retrain clears each with probability {1 - result['per_check_rate']:.2%} "
        f"({result['rate']:.0%} split over the deciding checks)",
        "",
        f"{'check':58s} {'policy':>8s} {'supported':>9s} {'bound sd':>8s} {'failed':>7s} {'P(block)':>8s}",
    ]
    for e in result["checks"]:
        policy = e.get("threshold")
        shown = "advisory" if e["advisory"] else (f"{abs(policy):.3f}" if policy is not None else "-")
        sup, sd = e.get("supported"), e.get("bound_sd")
        lines.append(
            f"{e['name'][:58]:58s} {shown:>8s} {_num(sup):>9s} {_num(sd):>8s} "
            f"{e['failed']:>3d}/{e['runs']:<3d} {_pct(e.get('false_block_probability')):>8s}"
        )
    return lines


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _pct(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.1%}"
