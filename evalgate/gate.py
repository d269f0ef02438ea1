"""The `gate` stage: paired statistics on per-item scores, a policy from params.yaml, a verdict.

Fails closed: a missing or stale metrics file, a golden set that changed since evaluation, a
promoted run scored on other items, or a check with no scored items is an error (exit 2), never a
pass. Each check is decided on a confidence interval (paired bootstrap of the per-item
differences, so the variance shared by base and candidate on the same item cancels) and, across
the family of checks, on Holm-adjusted one-sided p-values: a check passes only when both say so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evalgate import __version__
from evalgate.artifacts import package_versions, sha256_file, write_json_atomic
from evalgate.config import GateCheck, GateParams, Params
from evalgate.errors import InputError
from evalgate.git import git_commit

SCHEMA_VERSION = 1
SOURCES = {
    "eval": ("metrics/eval.json", "runs/scores.jsonl"),
    "judge": ("metrics/judge.json", "runs/judge_scores.jsonl"),
    "forgetting": ("metrics/forgetting.json", "runs/forgetting_scores.jsonl"),
}


@dataclass
class Source:
    """One stage's metrics file and its per-item scores, checked for staleness."""

    name: str
    path: Path
    metrics: dict[str, Any]
    rows: dict[tuple[str, str], list[dict[str, Any]]]  # (task, metric) -> rows in file order


def load_source(root: Path, name: str, metrics_path: str | None = None, *, needed_by: str = "the gate") -> Source:
    mpath, spath = SOURCES[name]
    mfile = root / (metrics_path or mpath)
    stage = {"eval": "evaluate"}.get(name, name)
    if not mfile.is_file():
        raise InputError(f"{mfile}: missing; {needed_by} needs it (run `evalgate {stage}` or `dvc repro`)")
    try:
        metrics = json.loads(mfile.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{mfile}: invalid JSON at line {exc.lineno}: {exc.msg}; rerun `evalgate {stage}`") from None
    if metrics.get("schema_version") != 1:
        raise InputError(f"{mfile}: schema_version {metrics.get('schema_version')!r} is not one this evalgate reads (1)")
    prov = metrics.get("provenance", {})
    sfile = root / prov.get("scores_file", spath)
    if not sfile.is_file():
        raise InputError(f"{sfile}: missing; the per-item scores behind {mfile} are gone; rerun `evalgate {stage}`")
    if sha256_file(sfile) != prov.get("scores_sha256"):
        raise InputError(f"{sfile}: does not match the sha256 recorded in {mfile} (stale or edited); rerun `evalgate {stage}`")
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with open(sfile, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            rows.setdefault((row["task"], row["metric"]), []).append(row)
    return Source(name, mfile, metrics, rows)


def metrics_path(params: Params, name: str) -> str:
    """Where stage `name`'s metrics file lives (evaluate's is configurable)."""
    return params.evaluate.metrics if name == "eval" else SOURCES[name][0]


def read_verdict(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    """The recorded gate report, refused when missing, unreadable or about other metrics than
    the ones on disk now (a stale verdict must not pass a pipeline)."""
    if params.gate is None:
        raise InputError("params.yaml: gate: section is missing; add the gate policy (see README: gate)")
    path = root / params.gate.output
    if not path.is_file():
        raise InputError(f"{path}: missing; run `evalgate gate` (or `dvc repro`) to record a verdict")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable ({exc}); rerun `evalgate gate`") from None
    if not isinstance(report, dict) or report.get("schema_version") != SCHEMA_VERSION or report.get("verdict") not in ("pass", "fail"):
        raise InputError(f"{path}: not a gate report this evalgate reads (schema_version {SCHEMA_VERSION}, verdict pass|fail); rerun `evalgate gate`")
    recorded = (report.get("provenance") or {}).get("metrics_files") or {}
    for name, sha in recorded.items():
        mfile = root / metrics_path(params, name)
        if name not in SOURCES or not mfile.is_file() or sha256_file(mfile) != sha:
            raise InputError(f"{path}: stale; {mfile} changed since the gate ran; rerun `evalgate gate`")
    return report


def check_fresh(root: Path, src: Source, params: Params) -> None:
    """Refuse metrics computed on other golden sets or for another adapter than the current one."""
    prov = src.metrics.get("provenance", {})
    for task, info in prov.get("tasks", {}).items():
        path = root / info["golden_set"]
        if not path.is_file() or sha256_file(path) != info["golden_set_sha256"]:
            raise InputError(
                f"{info['golden_set']}: changed since {SOURCES[src.name][0]} was computed for task {task}; "
                "rerun the evaluation (dvc repro) before gating"
            )
    adapter = prov.get("adapter", {})
    if adapter.get("dir"):
        from evalgate.train import ADAPTER_FILES, adapter_sha256

        adir = root / adapter["dir"]
        if all((adir / f).is_file() for f in ADAPTER_FILES) and adapter_sha256(adir) != adapter.get("sha256"):
            raise InputError(
                f"{adapter['dir']}: the adapter changed since {SOURCES[src.name][0]} was computed; rerun the evaluation"
            )


@dataclass
class Pairs:
    ids: list[str]
    base: np.ndarray | None
    cand: np.ndarray
    items: int
    candidate_scored: int
    higher_is_better: bool
    binary: bool
    worst: float | None = None
    """The worst value a score can take (the metric's range), when known."""


def _pairs(src: Source, check: GateCheck, promoted: dict[str, float] | None) -> Pairs:
    key = (check.task, check.metric)
    summary = src.metrics.get("tasks", {}).get(check.task, {}).get(check.metric)
    if summary is None or key not in src.rows:
        known = sorted(f"{t}/{m}" for t, m in src.rows)
        raise InputError(f"gate: check '{check.label}': no metric {check.task}/{check.metric} in {SOURCES[src.name][0]}; known: {', '.join(known)}")
    rows = src.rows[key]
    cand_scored = sum(r["candidate"] is not None for r in rows)
    ids, base, cand = [], [], []
    for r in rows:
        other = r["base"] if promoted is None else promoted.get(r["id"])
        if r["candidate"] is None or (check.kind != "min" and other is None):
            continue
        ids.append(r["id"])
        cand.append(float(r["candidate"]))
        base.append(float(other) if other is not None else math.nan)
    higher = bool(summary["higher_is_better"])
    value_range = summary.get("range")
    worst = None if not value_range else float(value_range[0] if higher else value_range[1])
    return Pairs(
        ids,
        None if check.kind == "min" else np.asarray(base, dtype=float),
        np.asarray(cand, dtype=float),
        len(rows),
        cand_scored,
        higher,
        bool(summary["binary"]),
        worst,
    )


def _fmt(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".") if abs(x) >= 0.001 or x == 0 else f"{x:.2g}"


def _one_sided_p(diff: np.ndarray, bound: float) -> float:
    """p-value of H0: mean(diff) <= bound against mean(diff) > bound (paired t). With no
    variance (every item moved by the same amount, e.g. identical answers) it is 0 or 1."""
    from scipy import stats as sps

    from evalgate.stats import paired_t

    t = paired_t(np.zeros_like(diff), diff - bound)
    return float(sps.t.sf(t.t, t.df))


def uninformative_reason(check: GateCheck, pairs: Pairs, mde: float | None, versus: str) -> str | None:
    """Why a no-worse-than check could not have seen a regression, or None when it could.

    Its reference side scoring the worst possible value on every item leaves nothing to drop
    from (0 vs 0 "passes" whatever the candidate does); a minimum detectable effect that cannot
    be computed means the data say nothing about the margin. Zero variance alone is not the
    test: a candidate identical to the reference on every item is evidence of no change."""
    if check.kind not in ("max_drop_vs_base", "max_drop_vs_promoted"):
        return None
    assert pairs.base is not None
    if pairs.worst is not None and bool(np.all(pairs.base == pairs.worst)):
        return (
            f"the {versus} scores {_fmt(pairs.worst)}, the worst possible value, on all {len(pairs.base)} items, "
            "so there was nothing to drop from: this check could not have seen a regression"
        )
    if mde is None or not math.isfinite(mde):
        return "its minimum detectable effect cannot be computed from these items, so it could not have seen a regression"
    return None


def evaluate_check(check: GateCheck, pairs: Pairs, gate: GateParams) -> dict[str, Any]:
    from evalgate.stats import mcnemar_exact, min_detectable_effect, paired_bootstrap_ci

    level = f"{round(gate.confidence * 100, 2):g}%"
    out: dict[str, Any] = {
        "name": check.label,
        "target": check.target,
        "kind": check.kind,
        "n": len(pairs.cand),
        "items": pairs.items,
    }
    if check.kind == "min_coverage":
        coverage = pairs.candidate_scored / pairs.items if pairs.items else 0.0
        ok = coverage >= (check.threshold or 0.0)
        out.update(estimate=coverage, ci=None, threshold=check.threshold, p_value=None, mde=None)
        out["verdict"] = "pass" if ok else "fail"
        out["reason"] = (
            f"{check.target}: {pairs.candidate_scored} of {pairs.items} items scored (coverage {_fmt(coverage)}), "
            f"{'at or above' if ok else 'below'} the required {_fmt(check.threshold or 0.0)}"
        )
        return out
    if len(pairs.cand) < 2:
        raise InputError(f"gate: check '{check.label}': only {len(pairs.cand)} scored item(s); a verdict needs at least 2")
    sign = 1.0 if pairs.higher_is_better else -1.0
    if check.kind == "min":
        zeros = np.zeros_like(pairs.cand)
        ci = paired_bootstrap_ci(zeros, pairs.cand, confidence=gate.confidence, n_resamples=gate.resamples, seed=gate.seed, method=gate.ci_method)
        est, lo, hi = ci.estimate, ci.low, ci.high
        decided = (lo if pairs.higher_is_better else hi) if check.decide_on == "lower_bound" else est
        thr = check.threshold or 0.0
        ok = decided >= thr if pairs.higher_is_better else decided <= thr
        p = _one_sided_p(sign * pairs.cand, sign * thr)
        out.update(estimate=est, ci=[lo, hi], threshold=thr, p_value=p, mde=None)
        bound = "lower bound" if pairs.higher_is_better else "upper bound"
        what = f"its {level} CI {bound} {_fmt(decided)}" if check.decide_on == "lower_bound" else f"the point estimate {_fmt(est)}"
        rel = ("at or above" if ok else "below") if pairs.higher_is_better else ("at or below" if ok else "above")
        out["verdict"] = "pass" if ok else "fail"
        out["reason"] = f"{check.target}: candidate {_fmt(est)} [{level} CI {_fmt(lo)}, {_fmt(hi)}]; {what} is {rel} the {'floor' if pairs.higher_is_better else 'ceiling'} {_fmt(thr)}"
        return out

    assert pairs.base is not None
    versus = "promoted" if check.kind == "max_drop_vs_promoted" else "base"
    ci = paired_bootstrap_ci(pairs.base, pairs.cand, confidence=gate.confidence, n_resamples=gate.resamples, seed=gate.seed, method=gate.ci_method)
    est, lo, hi = ci.estimate, ci.low, ci.high
    margin = check.margin or 0.0
    # In the metric's good direction: improvement = sign * (cand - base).
    improvement = sign * (pairs.cand - pairs.base)
    good_lo = sign * lo if sign > 0 else sign * hi
    if check.kind == "min_gain_vs_base":
        bound = margin
        ok = good_lo > bound
        need = f"must exceed a gain of {_fmt(margin)}"
    else:
        bound = -margin
        ok = good_lo > bound
        need = f"the allowed drop is {_fmt(margin)}"
    sd = float(np.std(improvement, ddof=1))
    mde = min_detectable_effect(len(improvement), sd, confidence=gate.confidence, power=gate.power) if math.isfinite(sd) else None
    why = uninformative_reason(check, pairs, mde, versus)
    if why is not None:
        base_mean, cand_mean = float(np.mean(pairs.base)), float(np.mean(pairs.cand))
        out.update(estimate=est, ci=[lo, hi], threshold=bound * sign, p_value=None, mde=None, uninformative=True)
        out["verdict"] = "fail" if gate.uninformative == "fail" else "uninformative"
        out["reason"] = (
            f"{check.target}: uninformative: candidate {_fmt(cand_mean)} vs {versus} {_fmt(base_mean)}; {why} "
            f"(p-value and minimum detectable effect undefined; gate.uninformative: {gate.uninformative})"
        )
        return out
    p = _one_sided_p(improvement, bound)
    out.update(estimate=est, ci=[lo, hi], threshold=bound * sign, p_value=p, mde=mde, uninformative=False)
    if pairs.binary:
        mc = mcnemar_exact(pairs.base, pairs.cand)
        out["mcnemar"] = {"worse": int(mc.b), "better": int(mc.c), "p_value": mc.p_value} if pairs.higher_is_better else {"better": int(mc.b), "worse": int(mc.c), "p_value": mc.p_value}
    base_mean, cand_mean = float(np.mean(pairs.base)), float(np.mean(pairs.cand))
    rel = "is above" if ok else "is not above"
    bound_word = "lower" if sign > 0 else "upper"
    out["verdict"] = "pass" if ok else "fail"
    out["reason"] = (
        f"{check.target}: candidate {_fmt(cand_mean)} vs {versus} {_fmt(base_mean)}, difference {est:+.3f} "
        f"[{level} CI {lo:+.3f}, {hi:+.3f}]; the CI's {bound_word} bound {rel} {sign * bound:+.3f} ({need})"
    )
    return out


def load_promoted(root: Path, gate: GateParams, src: Source) -> dict[tuple[str, str], dict[str, float]] | None:
    path = root / gate.promoted
    if not path.is_file():
        return None
    reg = json.loads(path.read_text(encoding="utf-8"))
    scores_path = root / reg["scores_file"]
    if not scores_path.is_file() or sha256_file(scores_path) != reg["scores_sha256"]:
        raise InputError(f"{scores_path}: the promoted run's per-item scores are missing or do not match {path}")
    current = {t: i["golden_set_sha256"] for t, i in src.metrics["provenance"]["tasks"].items()}
    for task, sha in reg.get("golden_sets", {}).items():
        if task in current and current[task] != sha:
            raise InputError(
                f"{path}: the promoted run was scored on a different golden set for task {task} "
                f"({sha[:12]} vs {current[task][:12]}); comparing them would not be paired. Re-evaluate "
                "the promoted adapter on the current golden set, or drop the max_drop_vs_promoted check"
            )
    out: dict[tuple[str, str], dict[str, float]] = {}
    with open(scores_path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row.get("candidate") is not None:
                out.setdefault((row["task"], row["metric"]), {})[row["id"]] = row["candidate"]
    return out


def run_gate(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    from evalgate.stats import holm

    gate = params.gate
    if gate is None:
        raise InputError("params.yaml: gate: section is missing; add the gate policy (see README: gate)")
    sources: dict[str, Source] = {}
    for name in sorted({c.source for c in gate.checks}):
        sources[name] = load_source(root, name, metrics_path(params, name))
        check_fresh(root, sources[name], params)
    promoted = None
    if any(c.kind == "max_drop_vs_promoted" for c in gate.checks):
        promoted = load_promoted(root, gate, sources["eval"])
    results = []
    for check in gate.checks:
        src = sources[check.source]
        if check.kind == "max_drop_vs_promoted":
            if promoted is None:
                results.append({
                    "name": check.label, "target": check.target, "kind": check.kind, "verdict": "skipped",
                    "reason": f"{check.target}: no promoted run yet ({gate.promoted} does not exist); nothing to compare with",
                    "estimate": None, "ci": None, "threshold": -(check.margin or 0.0), "p_value": None, "mde": None,
                })
                continue
            table = promoted.get((check.task, check.metric), {})
            pairs = _pairs(src, check, table)
        else:
            pairs = _pairs(src, check, None)
        results.append(evaluate_check(check, pairs, gate))

    # The family: every check decided by a test (a point-estimate floor is not a test).
    tested = [
        i for i, (r, c) in enumerate(zip(results, gate.checks, strict=True))
        if r.get("p_value") is not None and not (c.kind == "min" and c.decide_on == "point")
    ]
    alpha = (1 - gate.confidence) / 2
    if gate.correction == "holm" and tested:
        adjusted = holm([results[i]["p_value"] for i in tested])
        for i, p in zip(tested, adjusted, strict=True):
            results[i]["p_adjusted"] = p
            if results[i]["verdict"] == "pass" and p >= alpha:
                results[i]["verdict"] = "fail"
                results[i]["reason"] += (
                    f"; but after Holm correction across {len(tested)} checks its p-value is {p:.3g} "
                    f"(needs < {alpha:g}), so it does not pass"
                )
    for r in results:
        mde = r.get("mde")
        margin = abs(r["threshold"]) if r["kind"] in ("max_drop_vs_base", "max_drop_vs_promoted") and r.get("threshold") is not None else None
        r["underpowered"] = bool(mde is not None and margin is not None and mde > margin)
        if r["underpowered"]:
            note = (
                f"underpowered: with n={r['n']} the smallest drop this suite detects with {gate.power:.0%} power is "
                f"{mde:.3f}, more than the margin {margin:.3f}; add items"
            )
            r["warnings"] = [note]
            if gate.underpowered == "fail" and r["verdict"] == "pass":
                r["verdict"] = "fail"
                r["reason"] += f"; {note} (underpowered: fail)"
    failed = [r for r in results if r["verdict"] == "fail"]
    prov = sources["eval"].metrics.get("provenance", {}) if "eval" in sources else {}
    report = {
        "schema_version": SCHEMA_VERSION,
        "verdict": "fail" if failed else "pass",
        "summary": headline(results),
        "counts": check_counts(results),
        "confidence": gate.confidence,
        "ci_method": gate.ci_method,
        "resamples": gate.resamples,
        "correction": gate.correction,
        "checks": [_rounded(r) for r in results],
        "provenance": {
            "dataset_sha256": prov.get("dataset_sha256"),
            "base_model": prov.get("base_model"),
            "adapter": prov.get("adapter"),
            "golden_sets": {t: i["golden_set_sha256"] for t, i in prov.get("tasks", {}).items()},
            "metrics_files": {name: sha256_file(src.path) for name, src in sources.items()},
            "judge": sources["judge"].metrics.get("provenance", {}).get("judge") if "judge" in sources else None,
            "policy": gate.model_dump(mode="json"),
            "git_commit": git_commit(root),
            "evalgate_version": __version__,
            "packages": package_versions(["numpy", "scipy"]),
        },
    }
    write_json_atomic(root / gate.output, report)
    return report


def check_counts(checks: list[dict[str, Any]]) -> dict[str, int]:
    """How many checks passed, failed, were skipped, and were uninformative (whatever their verdict)."""
    return {
        "total": len(checks),
        "passed": sum(c["verdict"] == "pass" for c in checks),
        "failed": sum(c["verdict"] == "fail" for c in checks),
        "skipped": sum(c["verdict"] == "skipped" for c in checks),
        "uninformative": sum(bool(c.get("uninformative")) for c in checks),
    }


def headline(checks: list[dict[str, Any]]) -> str:
    """Every check counted: "4 of 6 checks passed, 2 skipped, 0 uninformative", and the failing
    ones named first when there are any."""
    n = check_counts(checks)
    counts = f"{n['passed']} of {n['total']} checks passed"
    if n["failed"]:
        counts += f", {n['failed']} failed"
    counts += f", {n['skipped']} skipped, {n['uninformative']} uninformative"
    failed = [c["name"] for c in checks if c["verdict"] == "fail"]
    return f"{counts}; failed: " + "; ".join(failed) if failed else counts


def _rounded(r: dict[str, Any]) -> dict[str, Any]:
    def rd(x: Any) -> Any:
        if isinstance(x, float):
            return round(x, 6) if math.isfinite(x) else None
        if isinstance(x, list):
            return [rd(v) for v in x]
        if isinstance(x, dict):
            return {k: rd(v) for k, v in x.items()}
        return x

    return {k: rd(v) for k, v in r.items()}
