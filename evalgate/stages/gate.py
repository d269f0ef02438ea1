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
        raise InputError("params.yaml: gate: section is missing; add the gate policy (see docs/stages/gate.md)")
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
    """Why a judge check must not decide promotion, or None. A judge counts only while, on the
    task's calibration set, it scored gate.judge_min_calibration_coverage of people's grades, people
    graded gate.judge_min_calibration_answers answers, and its kappa's CI lower bound meets
    gate.judge_min_agreement (judging.trust); a pairwise check also needs its order consistency."""
    from evalgate.judging.trust import trust_failures

    judge = (src.metrics.get("provenance") or {}).get("judge") or {}
    calib = (judge.get("calibration") or {}).get("path") or "the calibration set"
    who = f"judge {judge.get('model', '?')}"
    failed = trust_failures((src.metrics.get("agreement") or {}).get(check.task), gate)
    if failed:
        return f"{who} is not trusted on {check.task} ({calib}): " + "; ".join(f.text for f in failed)
    if check.metric == "win_rate":
        order = (src.metrics.get("order") or {}).get(check.task) or {}
        oc = order.get("order_consistency")
        if oc is None or oc < gate.judge_min_order_consistency:
            return (
                f"{who} keeps its pairwise winner when the answers swap places on "
                f"{'no' if oc is None else f'{oc:.0%} of the'} items, below gate.judge_min_order_consistency {gate.judge_min_order_consistency:g}"
            )
    return None


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


def _decide(gate: GateParams, sources: dict[str, ScoredStage], root: Path) -> list[dict[str, Any]]:
    """Every check of the policy `gate` decided on the scored stages `sources`."""
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
    return apply_family(results, gate)


def _directions(sources: dict[str, ScoredStage]) -> dict[tuple[str, str], bool]:
    return {
        (task, metric): bool(m.get("higher_is_better", True))
        for src in sources.values()
        for task, ms in (src.metrics.get("tasks") or {}).items()
        for metric, m in ms.items()
        if isinstance(m, dict)
    }


def run_gate(params: Params, root: Path = Path("."), policy_ref: str | None = None, params_path: Path | None = None) -> dict[str, Any]:
    """Decide the verdict. With `policy_ref` (a pull request's base commit) the base branch's
    `gate:` policy decides and this one's policy is evaluated beside it (evalgate.policy_source):
    the pull request fails when either fails, and every policy change is listed."""
    from evalgate.policy_source import base_policy, diff, policy_record

    own = params.gate
    if own is None:
        raise InputError("params.yaml: gate: section is missing; add the gate policy (see docs/stages/gate.md)")
    gate, introduced = own, False
    if policy_ref:
        found = base_policy(policy_ref, params_path or root / "params.yaml", root)
        gate, introduced = (own, True) if found is None else (found, False)
    sources: dict[str, ScoredStage] = {}
    for name in sorted({c.source for c in [*gate.checks, *own.checks]}):
        sources[name] = read_scored_stage(root, name, metrics_path(params, name))
        check_fresh(root, sources[name])
    checks = _decide(gate, sources, root)
    final, headline_text, policy = verdict(checks), headline(checks), None
    if policy_ref:
        changes = [] if introduced else diff(gate, own, _directions(sources))
        new_report = None
        if changes:
            own_checks = _decide(own, sources, root)
            new_report = {"verdict": verdict(own_checks), "summary": headline(own_checks), "counts": check_counts(own_checks), "checks": own_checks}
            if new_report["verdict"] == "fail" and final == "pass":
                final = "fail"
                headline_text += "; the policy this pull request brings fails it (it would block the base branch after merging)"
        policy = policy_record(policy_ref, changes, new_report, introduced)
    prov = sources["eval"].metrics.get("provenance", {}) if "eval" in sources else {}
    report = {
        "schema_version": SCHEMA_VERSION,
        "verdict": final,
        "summary": headline_text,
        "counts": check_counts(checks),
        "confidence": gate.confidence,
        "ci_method": gate.ci_method,
        "resamples": gate.resamples,
        "correction": gate.correction,
        "checks": checks,
        **({"policy_source": policy} if policy else {}),
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
    write_artifact(root / own.output, GateReport, report)
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
