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
from evalgate.checks import Pairs, get_check
from evalgate.config import GateCheck, GateParams, Params
from evalgate.errors import InputError
from evalgate.git import git_commit
from evalgate.policy import (
    apply_family,
    check_counts,
    decide_check,
    headline,
    skipped_check,
    verdict,
)

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
        from evalgate.adapter import adapter_sha256, is_adapter

        adir = root / adapter["dir"]
        if is_adapter(adir) and adapter_sha256(adir) != adapter.get("sha256"):
            raise InputError(
                f"{adapter['dir']}: the adapter changed since {SOURCES[src.name][0]} was computed; rerun the evaluation"
            )


def _pairs(src: Source, check: GateCheck, promoted: dict[str, float] | None) -> Pairs:
    """The check's per-item scores: the candidate's, paired with the base's (or the promoted
    run's, `promoted`) on the same items when the kind compares with one."""
    key = (check.task, check.metric)
    summary = src.metrics.get("tasks", {}).get(check.task, {}).get(check.metric)
    if summary is None or key not in src.rows:
        known = sorted(f"{t}/{m}" for t, m in src.rows)
        raise InputError(f"gate: check '{check.label}': no metric {check.task}/{check.metric} in {SOURCES[src.name][0]}; known: {', '.join(known)}")
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
    gate = params.gate
    if gate is None:
        raise InputError("params.yaml: gate: section is missing; add the gate policy (see README: gate)")
    sources: dict[str, Source] = {}
    for name in sorted({c.source for c in gate.checks}):
        sources[name] = load_source(root, name, metrics_path(params, name))
        check_fresh(root, sources[name], params)
    promoted = None
    if any(get_check(c.kind).versus == "promoted" for c in gate.checks):
        promoted = load_promoted(root, gate, sources["eval"])
    results = []
    for check in gate.checks:
        src = sources[check.source]
        if get_check(check.kind).versus == "promoted":
            if promoted is None:
                reason = f"{check.target}: no promoted run yet ({gate.promoted} does not exist); nothing to compare with"
                results.append(skipped_check(check, reason))
                continue
            pairs = _pairs(src, check, promoted.get((check.task, check.metric), {}))
        else:
            pairs = _pairs(src, check, None)
        results.append(decide_check(check, pairs, gate))
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
