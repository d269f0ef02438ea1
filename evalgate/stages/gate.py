"""The `gate` stage: paired statistics on per-item scores, a policy from params.yaml, a verdict.

Fails closed: a missing or stale metrics file, a golden set that changed since evaluation, a
promoted run scored on other items, or a check with no scored items is an error (exit 2), never a
pass. Each check is decided on a confidence interval (paired bootstrap of the per-item
differences, so the variance shared by base and candidate on the same item cancels) and, across
the family of checks, on Holm-adjusted one-sided p-values: a check passes only when both say so.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from evalgate import __version__
from evalgate.artifacts import package_versions, sha256_file
from evalgate.checks import Pairs, get_check
from evalgate.config import GateCheck, GateParams, Params
from evalgate.contract import (
    PATHS,
    SCHEMA_VERSION,
    SCORE_SOURCES,
    GateReport,
    ScoredStage,
    ScoreRow,
    check_fresh,
    golden_sets,
    metrics_path_of,
    parse,
    read_json,
    read_promoted,
    read_rows,
    read_scored_stage,
    read_train_meta,
    write_artifact,
)
from evalgate.errors import InputError
from evalgate.git import git_commit
from evalgate.policy import (
    apply_family,
    check_counts,
    decide_check,
    headline,
    make_advisory,
    skipped_check,
    verdict,
)


def metrics_path(params: Params, name: str) -> str:
    """Where stage `name`'s metrics file lives (evaluate's is configurable)."""
    return metrics_path_of(name, params.evaluate.metrics)


def read_verdict(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    """The recorded gate report, refused when missing, unreadable or about other metrics than
    the ones on disk now (a stale verdict must not pass a pipeline)."""
    if params.gate is None:
        raise InputError("params.yaml: gate: section is missing; add the gate policy (see README: gate)")
    path = root / params.gate.output
    if not path.is_file():
        raise InputError(f"{path}: missing; run `evalgate gate` (or `dvc repro`) to record a verdict")
    raw = read_json(path, rewrite="rerun `evalgate gate`")
    parse(GateReport, raw, path, rewrite="rerun `evalgate gate`")
    recorded = (raw.get("provenance") or {}).get("metrics_files") or {}
    for name, sha in recorded.items():
        mfile = root / metrics_path(params, name)
        if name not in SCORE_SOURCES or not mfile.is_file() or sha256_file(mfile) != sha:
            raise InputError(f"{path}: stale; {mfile} changed since the gate ran; rerun `evalgate gate`")
    return raw


def _pairs(src: ScoredStage, check: GateCheck, promoted: dict[str, float] | None) -> Pairs:
    """The check's per-item scores: the candidate's, paired with the base's (or the promoted
    run's, `promoted`) on the same items when the kind compares with one."""
    key = (check.task, check.metric)
    summary = src.metrics.get("tasks", {}).get(check.task, {}).get(check.metric)
    if summary is None or key not in src.rows:
        known = sorted(f"{t}/{m}" for t, m in src.rows)
        raise InputError(f"gate: check '{check.label}': no metric {check.task}/{check.metric} in {PATHS[src.name + '.metrics']}; known: {', '.join(known)}")
    rows = src.rows[key]
    paired = get_check(check.kind).versus is not None
    cand_scored = sum(r["candidate"] is not None for r in rows)
    ids, base, cand = [], [], []
    for r in rows:
        other = r["base"] if promoted is None else promoted.get(r["id"])
        if r["candidate"] is None or (paired and other is None):
            continue
        ids.append(r["id"])
        cand.append(float(r["candidate"]))
        base.append(float(other) if other is not None else math.nan)
    higher = bool(summary["higher_is_better"])
    value_range = summary.get("range")
    worst = None if not value_range else float(value_range[0] if higher else value_range[1])
    return Pairs(
        ids,
        np.asarray(base, dtype=float) if paired else None,
        np.asarray(cand, dtype=float),
        len(rows),
        cand_scored,
        higher,
        bool(summary["binary"]),
        worst,
    )


def judge_not_trusted(src: ScoredStage, check: GateCheck, gate: GateParams) -> str | None:
    """Why a judge check must not decide promotion, or None. A judge counts only while its
    quadratic-weighted kappa with people on the task's calibration items meets
    gate.judge_min_agreement; a pairwise check also needs its order consistency."""
    judge = (src.metrics.get("provenance") or {}).get("judge") or {}
    calib = (judge.get("calibration") or {}).get("path") or "the calibration set"
    a = (src.metrics.get("agreement") or {}).get(check.task)
    who = f"judge {judge.get('model', '?')}"
    if not a or not a.get("n"):
        return f"{who} has no graded calibration items for task {check.task} in {calib}, so its agreement with people is unknown"
    qwk, ci = a.get("qwk"), a.get("qwk_ci") or [None, None]
    if qwk is None or qwk < gate.judge_min_agreement:
        shown = "undefined" if qwk is None else f"{qwk:.2f} (95% CI {_f(ci[0])} to {_f(ci[1])}, {a['n']} grades)"
        return (
            f"{who}'s agreement with people on {check.task}'s calibration items, quadratic-weighted kappa {shown}, "
            f"is below gate.judge_min_agreement {gate.judge_min_agreement:g}"
        )
    if check.metric == "win_rate":
        order = (src.metrics.get("order") or {}).get(check.task) or {}
        oc = order.get("order_consistency")
        if oc is None or oc < gate.judge_min_order_consistency:
            return (
                f"{who} keeps its pairwise winner when the answers swap places on "
                f"{'no' if oc is None else f'{oc:.0%} of the'} items, below gate.judge_min_order_consistency {gate.judge_min_order_consistency:g}"
            )
    return None


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def load_promoted(root: Path, gate: GateParams, src: ScoredStage) -> dict[tuple[str, str], dict[str, float]] | None:
    path = root / gate.promoted
    record = read_promoted(path)
    if record is None:
        return None
    scores_path = root / record.scores_file
    if not scores_path.is_file() or sha256_file(scores_path) != record.scores_sha256:
        raise InputError(f"{scores_path}: the promoted run's per-item scores are missing or do not match {path}")
    current = golden_sets(src)
    for task, sha in record.golden_sets.items():
        if task in current and current[task] != sha:
            raise InputError(
                f"{path}: the promoted run was scored on a different golden set for task {task} "
                f"({sha[:12]} vs {current[task][:12]}); comparing them would not be paired. Re-evaluate "
                "the promoted adapter on the current golden set, or drop the max_drop_vs_promoted check"
            )
    out: dict[tuple[str, str], dict[str, float]] = {}
    for row in read_rows(scores_path, ScoreRow, rewrite=f"promote again with `evalgate promote` ({path})"):
        if row.candidate is not None:
            out.setdefault((row.task, row.metric), {})[row.id] = row.candidate
    return out


def run_gate(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    gate = params.gate
    if gate is None:
        raise InputError("params.yaml: gate: section is missing; add the gate policy (see README: gate)")
    sources: dict[str, ScoredStage] = {}
    for name in sorted({c.source for c in gate.checks}):
        sources[name] = read_scored_stage(root, name, metrics_path(params, name))
        check_fresh(root, sources[name])
    promoted = None
    if any(get_check(c.kind).versus == "promoted" and c.source == "eval" for c in gate.checks):
        promoted = load_promoted(root, gate, sources["eval"])
    results = []
    for check in gate.checks:
        src = sources[check.source]
        if get_check(check.kind).versus == "promoted":
            if check.source != "eval":
                reason = (
                    f"{check.target}: a promotion records evaluate's per-item scores only, so there is nothing "
                    f"of the {SCORE_SOURCES[check.source]} stage to compare with; compare with the base instead"
                )
                results.append(skipped_check(check, reason))
                continue
            if promoted is None:
                reason = f"{check.target}: no promoted run yet ({gate.promoted} does not exist); nothing to compare with"
                results.append(skipped_check(check, reason))
                continue
            pairs = _pairs(src, check, promoted.get((check.task, check.metric), {}))
        else:
            pairs = _pairs(src, check, None)
        result = decide_check(check, pairs, gate)
        if check.source == "judge":
            why = judge_not_trusted(src, check, gate)
            if why:
                result = make_advisory(result, why)
        results.append(result)
    checks = apply_family(results, gate)
    prov = sources["eval"].metrics.get("provenance", {}) if "eval" in sources else {}
    report = {
        "schema_version": SCHEMA_VERSION,
        "verdict": verdict(checks),
        "summary": headline(checks),
        "counts": check_counts(checks),
        "confidence": gate.confidence,
        "ci_method": gate.ci_method,
        "resamples": gate.resamples,
        "correction": gate.correction,
        "checks": checks,
        "provenance": {
            "dataset_sha256": prov.get("dataset_sha256"),
            "base_model": prov.get("base_model"),
            "adapter": prov.get("adapter"),
            "golden_sets": golden_sets(sources["eval"]) if "eval" in sources else {},
            "metrics_files": {name: sha256_file(src.path) for name, src in sources.items()},
            "judge": sources["judge"].metrics.get("provenance", {}).get("judge") if "judge" in sources else None,
            "engines": _engines(root, sources),
            "policy": gate.model_dump(mode="json"),
            "git_commit": git_commit(root),
            "evalgate_version": __version__,
            "packages": package_versions(["numpy", "scipy"]),
        },
    }
    write_artifact(root / gate.output, GateReport, report)
    return report


def _engines(root: Path, sources: dict[str, ScoredStage]) -> dict[str, Any]:
    """Per stage, what computed its numbers (dtype, device, ISA class, threads): a verdict says
    which machine class it was reached on."""
    out: dict[str, Any] = {}
    meta = read_train_meta(root / PATHS["train.meta"])
    engine = (meta.model_extra or {}).get("engine") if meta is not None else None
    if isinstance(engine, dict):
        out["train"] = engine
    where = {"eval": ("evaluate", "backend"), "judge": ("judge", "judge"), "forgetting": ("forgetting", "engine")}
    for name, src in sources.items():
        stage, key = where[name]
        e = (src.metrics.get("provenance") or {}).get(key)
        if isinstance(e, dict) and e.get("dtype"):
            out[stage] = {k: e[k] for k in ("dtype", "device", "isa", "gpu", "threads", "isa_hardware", "isa_capped_by") if k in e}
    return out
