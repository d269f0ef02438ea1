"""What the templates see: the analysis plus the panels built from the optional inputs."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from markupsafe import Markup

from evalgate import __version__
from evalgate.artifacts import sha256_json
from evalgate.config import ReportParams
from evalgate.contract import SCHEMA_VERSION
from evalgate.git import git_commit, git_state
from evalgate.hardware import engine_text
from evalgate.policy import headline as headline_text
from evalgate.report import charts
from evalgate.report.analysis import versus_of
from evalgate.report.forgetting import forgetting_view
from evalgate.report.judge import judge_view
from evalgate.report.loaders import Inputs
from evalgate.report.views import Analysis, MetricView, fmt, fmt_delta

CHECK_ORDER = {"fail": 0, "uninformative": 1, "pass": 2, "advisory": 3, "skipped": 4}
LIST_LIMIT = 50  # rows per data-panel list (removals, rejects); the count is always shown


def _verdict(inputs: Inputs) -> dict[str, Any]:
    g = inputs.gate
    checks = [
        # The default name is '<target> <kind>', and the reason starts with the target: say the kind.
        {**c, "label": c.get("kind", "").replace("_", " ") if c.get("name") == f"{c.get('target')} {c.get('kind')}" else c.get("name")}
        for c in sorted((g.report or {}).get("checks", []), key=lambda c: CHECK_ORDER.get(c.get("verdict"), 4))
    ]
    headline = {
        "pass": "Gate passed",
        "fail": "Gate failed",
        "not run": "Gate not run",
        "unusable": "Gate verdict unusable",
    }[g.state]
    # Counted from the checks themselves, so every report words it the same way.
    summary = headline_text(checks) if g.report and checks else (g.report or {}).get("summary") or g.problem or ""
    policy = (g.report or {}).get("policy_source")
    return {"state": g.state, "headline": headline, "summary": summary, "checks": checks, "problem": g.problem, "policy": policy}


def _forest(analysis: Analysis) -> Markup:
    rows = []
    level = f"{round(analysis.confidence * 100, 2):g}%"
    for m in analysis.metrics:
        for vs, interval in (("base", m.delta), ("promoted", m.vs_promoted)):
            if interval is None:
                continue
            lo, hi = sorted((m.sign * interval.low, m.sign * interval.high))
            failed = any(
                c.get("verdict") == "fail" and (versus_of(c) == "promoted") == (vs == "promoted")
                for c in m.checks
            )
            label = m.metric + (" \u2605" if m.primary else "") + ("" if vs == "base" else " vs promoted")
            if not m.higher_is_better:
                label += " (lower is better)"
            rows.append(
                charts.ForestRow(
                    label=label,
                    estimate=m.sign * interval.estimate,
                    low=lo,
                    high=hi,
                    text=f"{fmt_delta(interval.estimate)} [{fmt_delta(interval.low)}, {fmt_delta(interval.high)}]",
                    bounds=[b for v, b in m.bounds if v == vs],
                    status=_direction(m.sign, interval.low, interval.high),
                    failed=failed,
                    group=m.task,
                )
            )
    return charts.forest(rows, title=f"Candidate \u2212 {'base / promoted' if any(m.vs_promoted for m in analysis.metrics) else 'base'}, paired {level} CI")


def _direction(sign: float, low: float, high: float) -> str:
    lo, hi = sorted((sign * low, sign * high))
    return "better" if lo > 0 else "worse" if hi < 0 else "none"


def _distribution(m: MetricView, bins: int) -> dict[str, Any]:
    base = [v for v in m.base_scores if v is not None]
    cand = [v for v in m.cand_scores if v is not None]
    if m.binary:
        table = Counter()
        for b, c in zip(m.base_scores, m.cand_scores, strict=True):
            if b is not None and c is not None:
                table[(b >= 0.5, c >= 0.5)] += 1
        return {"kind": "binary", "table": {f"{int(b)}{int(c)}": n for (b, c), n in table.items()}, "n": sum(table.values())}
    return {"kind": "continuous", "svg": charts.histogram(base, cand, bins=bins, title=f"{m.metric}: score distribution")}


def _explorer(analysis: Analysis) -> dict[str, Any]:
    """Compact per-item scores for the in-page item explorer (no text, numbers and ids only)."""

    def r(v: float | None) -> float | None:
        return None if v is None or not math.isfinite(v) else round(v, 4)

    tasks: dict[str, Any] = {}
    for t in analysis.tasks:
        if not t.metrics:
            continue
        ids = t.metrics[0].ids
        metrics = {}
        for m in t.metrics:
            pos = {item: i for i, item in enumerate(m.ids)}
            metrics[m.metric] = {
                "hib": m.higher_is_better,
                "b": [r(m.base_scores[pos[i]]) if i in pos else None for i in ids],
                "c": [r(m.cand_scores[pos[i]]) if i in pos else None for i in ids],
            }
        tasks[t.name] = {
            "ids": ids,
            "primary": next((m.metric for m in t.metrics if m.primary), t.metrics[0].metric),
            "metrics": metrics,
            "anchors": t.anchors,
        }
    return {"tasks": tasks}


def _training(inputs: Inputs) -> dict[str, Any]:
    tm = inputs.train_metrics or (inputs.train_meta or {}).get("metrics") or {}
    meta = inputs.train_meta or {}
    keys = [
        ("steps", "steps"), ("epochs", "epochs"), ("tokens_seen", "tokens seen"), ("tokens_per_second", "tokens/s"),
        ("wall_seconds", "wall time (s)"), ("peak_memory_mb", "peak memory (MB)"), ("final_train_loss", "final train loss"),
        ("final_val_loss", "final validation loss"), ("early_stopped", "early stopped"), ("overfitting_warning", "overfitting warning"),
    ]
    facts = [(label, tm[k]) for k, label in keys if k in tm]
    if tm.get("trainer_path"):
        path = {"cached_lower_layers": "frozen layers computed once, cached", "full_forward": "whole model at every step"}
        facts.append(("trainer path", f"{path.get(tm['trainer_path'], tm['trainer_path'])} (layers 0-{tm['frozen_layers'] - 1} frozen)" if tm.get("frozen_layers") else path.get(tm["trainer_path"], tm["trainer_path"])))
    if isinstance(tm.get("phase_seconds"), dict):
        facts.append(("time by phase (s)", ", ".join(f"{k.removesuffix('_s').replace('_', ' ')} {v:g}" for k, v in tm["phase_seconds"].items())))
    if tm.get("epochs_planned") is not None:
        facts.append(("epochs trained of planned", f"{tm.get('epochs', '?')} of {tm['epochs_planned']:g}" + (" (early stopping)" if tm.get("early_stopped") else "")))
    if isinstance(tm.get("engine"), dict):
        facts.append(("compute", engine_text(tm["engine"])))
    for k, label in (("train_records", "train records"), ("val_records", "validation records"), ("truncated_records", "records truncated to max_length")):
        if k in meta:
            facts.append((label, meta[k]))
    if isinstance(meta.get("dropped_records"), list):
        facts.append(("records dropped (no answer token left within max_length)", len(meta["dropped_records"])))
    hp = meta.get("hyperparameters") or {}
    hyper = [(k, v) for k, v in hp.items() if not isinstance(v, dict)] + [(f"lora.{k}", v) for k, v in (hp.get("lora") or {}).items()]
    chart = charts.lines(inputs.curves, title="Loss by step", x_label="step", y_label="loss") if inputs.curves else Markup("")
    return {"facts": facts, "hyper": hyper, "chart": chart, "has_any": bool(facts or inputs.curves)}


def _data(inputs: Inputs) -> dict[str, Any] | None:
    m = inputs.manifest or {}
    r = inputs.prepare_report or {}
    p = inputs.prepare_metrics
    if not m and not r and p is None:
        return None
    counts = r.get("counts") or (p or {}).get("prepare") or m.get("counts") or {}
    removals = r.get("removals") or []
    by_reason = Counter(x.get("reason", "?") for x in removals)
    return {
        "dataset_sha256": m.get("dataset_sha256") or r.get("dataset_sha256") or (p or {}).get("dataset_sha256"),
        "counts": list(counts.items()),
        "format_mix": list((r.get("format_mix") or {}).items()),
        "token_lengths": list((r.get("token_lengths") or {}).items()),
        "inputs": r.get("inputs") or [],
        "golden_sets": r.get("golden_sets") or [],
        "removals_by_reason": sorted(by_reason.items()),
        "removals": removals[:LIST_LIMIT],
        "removals_total": len(removals),
        "contradictions": (r.get("contradictions") or [])[:LIST_LIMIT],
        "rejects": inputs.rejects[:LIST_LIMIT],
        "rejects_total": len(inputs.rejects),
        "files": list((m.get("files") or {}).items()),
    }


def _provenance(inputs: Inputs, root_commit: str | None) -> dict[str, Any]:
    ev = inputs.eval.metrics.get("provenance", {})
    gate_prov = (inputs.gate.report or {}).get("provenance") or {}
    return {
        "report": {"schema_version": SCHEMA_VERSION, "evalgate_version": __version__, "git_commit": root_commit},
        "base_model": ev.get("base_model") or {},
        "adapter": ev.get("adapter") or {},
        "backend": ev.get("backend") or {},
        "dataset_sha256": ev.get("dataset_sha256"),
        "tasks": ev.get("tasks") or {},
        "eval_commit": ev.get("git_commit"),
        "eval_packages": ev.get("packages") or {},
        "gate_commit": gate_prov.get("git_commit"),
        "gate_packages": gate_prov.get("packages") or {},
        "gate_policy": {k: v for k, v in (gate_prov.get("policy") or {}).items() if k != "checks"},
        "train_packages": (inputs.train_meta or {}).get("packages") or {},
        "train_commit": (inputs.train_meta or {}).get("git_commit"),
        "engines": [(stage, engine_text(e)) for stage, e in stage_engines(inputs).items()],
        "engine_groups": _grouped(stage_engines(inputs)),
    }


def _grouped(engines: dict[str, dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Stages that ran on the same engine, together: [(engine text, [stages])]."""
    out: dict[str, list[str]] = {}
    for stage, e in engines.items():
        out.setdefault(engine_text(e), []).append(stage)
    return list(out.items())


def stage_engines(inputs: Inputs) -> dict[str, dict[str, Any]]:
    """Per stage that ran a model here: its compute dtype, device, ISA class and threads."""
    out: dict[str, dict[str, Any]] = {}
    candidates = {
        "train": (inputs.train_meta or {}).get("engine"),
        "evaluate": inputs.eval.metrics.get("provenance", {}).get("backend"),
        "judge": ((inputs.judge or {}).get("provenance") or {}).get("judge"),
        "forgetting": ((inputs.forgetting or {}).get("provenance") or {}).get("engine"),
    }
    for stage, e in candidates.items():
        if isinstance(e, dict) and e.get("dtype") and e.get("threads") is not None:
            out[stage] = e
    return out


def _truncation(inputs: Inputs) -> list[dict[str, Any]]:
    """Per task and side, the share of answers cut at max_new_tokens, flagged above the warning share."""
    limit = inputs.params.evaluate.warn_truncated_share
    rows = []
    for task, g in (inputs.eval.metrics.get("generation") or {}).items():
        for side in ("base", "candidate"):
            st = g.get(side) or {}
            share = st.get("truncated_share")
            if share is None:
                continue
            rows.append({
                "task": task, "side": side, "truncated": st.get("truncated"), "answers": st.get("answers"),
                "share": share, "max_new_tokens": g.get("max_new_tokens"), "mean_new_tokens": st.get("mean_new_tokens"),
                "warn": share > limit,
            })
    return rows


def _dirty(inputs: Inputs, prov: dict[str, Any]) -> dict[str, Any] | None:
    """Which stages ran from uncommitted changes to their inputs (pipeline outputs do not count)."""
    stages = [
        name for name, commit in (
            ("train", prov.get("train_commit")), ("evaluate", prov.get("eval_commit")),
            ("gate", prov.get("gate_commit")), ("report", prov["report"].get("git_commit")),
        )
        if isinstance(commit, str) and commit.endswith("+dirty")
    ]
    if not stages:
        return None
    state = git_state(inputs.root) or {}
    return {"stages": stages, "files": (state.get("dirty") or [])[:LIST_LIMIT]}


def build_context(inputs: Inputs, analysis: Analysis, rp: ReportParams) -> dict[str, Any]:
    files = dict(sorted(inputs.files.items()))
    level = f"{round(analysis.confidence * 100, 2):g}%"
    explorer = _explorer(analysis)
    provenance = _provenance(inputs, git_commit(inputs.root))
    meta = {
        "schema_version": SCHEMA_VERSION,
        "verdict": inputs.gate.state,
        "inputs": files,
        "inputs_sha256": sha256_json(files),
    }
    return {
        "title": "evalgate regression report",
        "level": level,
        "verdict": _verdict(inputs),
        "analysis": analysis,
        "tasks": analysis.tasks,
        "metrics": analysis.metrics,
        "has_promoted": inputs.promoted is not None,
        "forest": _forest(analysis),
        "distributions": {m.target: _distribution(m, rp.bins) for m in analysis.metrics},
        "explorer": explorer,
        "judge": judge_view(
            inputs.judge, inputs.judge_rows, (inputs.gate.report if inputs.gate else None) or {},
            inputs.params.gate, 3, rp.max_chars,
        ),
        "forgetting": forgetting_view(inputs.forgetting, (inputs.gate.report if inputs.gate else None) or {}),
        "training": _training(inputs),
        "data": _data(inputs),
        "provenance": provenance,
        "dirty": _dirty(inputs, provenance),
        "truncation": _truncation(inputs),
        "truncation_limit": inputs.params.evaluate.warn_truncated_share,
        "files": files,
        "meta": meta,
        "notes": inputs.notes,
        "params": rp,
        "answers_available": bool(inputs.predictions),
        "fmt": fmt,
    }
