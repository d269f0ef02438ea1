"""From per-item scores to what the report shows: deltas with CIs, flips, movers, worst items.

Every comparison is paired by item id. Intervals use the gate's bootstrap settings (method,
confidence, resamples, seed), so a gated target's interval here is the one the gate decided on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalgate.config import GateCheck, GateParams, ReportParams
from evalgate.report.items import flips, worst_items
from evalgate.report.loaders import Inputs
from evalgate.report.views import Analysis, Interval, MetricView, TaskView


@dataclass(frozen=True)
class Bootstrap:
    """The interval settings: the gate's, or the gate's defaults when there is no gate section."""

    confidence: float
    method: str
    resamples: int
    seed: int

    @classmethod
    def of(cls, gate: GateParams | None) -> Bootstrap:
        if gate is not None:
            return cls(gate.confidence, gate.ci_method, gate.resamples, gate.seed)
        f = GateParams.model_fields
        return cls(f["confidence"].default, f["ci_method"].default, f["resamples"].default, f["seed"].default)


def _ci(base: list[float], cand: list[float], boot: Bootstrap) -> Interval | None:
    from evalgate.stats import paired_bootstrap_ci

    if len(base) < 2:
        return None
    ci = paired_bootstrap_ci(
        base, cand, confidence=boot.confidence, n_resamples=boot.resamples, seed=boot.seed, method=boot.method  # type: ignore[arg-type]
    )
    return Interval(ci.estimate, ci.low, ci.high, ci.n)


def _bounds(checks: list[GateCheck], target: str) -> list[tuple[str, float]]:
    """Non-inferiority / superiority bounds on this target, in the improvement direction."""
    from evalgate.checks import CHECKS

    out = []
    for c in checks:
        kind = CHECKS.get(c.kind)
        if c.source != "eval" or f"{c.task}/{c.metric}" != target or kind is None or kind.versus is None or kind.needs != "margin":
            continue
        out.append((kind.versus, kind.bound(c)))
    return out


def versus_of(check: dict[str, Any]) -> str | None:
    """What a gate.json check compared the candidate with (None: nothing, or a kind this
    process does not know)."""
    from evalgate.checks import CHECKS

    kind = CHECKS.get(str(check.get("kind")))
    return kind.versus if kind is not None else None


def _gate_checks(inputs: Inputs, target: str) -> list[dict[str, Any]]:
    report = inputs.gate.report
    if report is None:
        return []
    return [c for c in report.get("checks", []) if c.get("target") in (target, f"eval:{target}")]


def _metric_view(inputs: Inputs, task: str, metric: str, summary: dict[str, Any], boot: Bootstrap) -> MetricView:
    rows = inputs.eval.rows.get((task, metric), [])
    ids = [str(r["id"]) for r in rows]
    base_scores = [None if r.get("base") is None else float(r["base"]) for r in rows]
    cand_scores = [None if r.get("candidate") is None else float(r["candidate"]) for r in rows]
    paired = [(b, c) for b, c in zip(base_scores, cand_scores, strict=True) if b is not None and c is not None]
    view = MetricView(
        task=task,
        metric=metric,
        primary=bool(summary.get("primary")),
        binary=bool(summary.get("binary")),
        higher_is_better=bool(summary.get("higher_is_better", True)),
        items=len(rows),
        base=summary.get("base"),
        base_se=summary.get("base_stderr"),
        candidate=summary.get("candidate"),
        candidate_se=summary.get("candidate_stderr"),
        delta=_ci([b for b, _ in paired], [c for _, c in paired], boot),
        ids=ids,
        base_scores=base_scores,
        cand_scores=cand_scores,
        checks=_gate_checks(inputs, f"{task}/{metric}"),
        bounds=_bounds(inputs.policy, f"{task}/{metric}"),
    )
    # The gate's own interval wins for a gated target: the report must show what was decided on.
    for check in view.checks:
        if versus_of(check) == "base":
            if check.get("ci") and view.delta is not None:
                view.delta = Interval(view.delta.estimate, float(check["ci"][0]), float(check["ci"][1]), view.delta.n)
            break
    if inputs.promoted is not None:
        table = inputs.promoted.scores.get((task, metric))
        pm = ((inputs.promoted.entry.get("metrics") or {}).get(task) or {}).get(metric) or {}
        view.promoted = pm.get("candidate")
        if table:
            pairs = [(table[i], c) for i, c in zip(ids, cand_scores, strict=True) if c is not None and i in table]
            view.vs_promoted = _ci([p for p, _ in pairs], [c for _, c in pairs], boot)
    return view


def analyse(inputs: Inputs, rp: ReportParams) -> Analysis:
    boot = Bootstrap.of(inputs.params.gate)
    tasks = []
    start = 0
    for task, metrics in (inputs.eval.metrics.get("tasks") or {}).items():
        views = [_metric_view(inputs, task, metric, summary, boot) for metric, summary in metrics.items()]
        flipped = [f for m in views if (f := flips(m, rp.max_flips, rp.movers_n)) is not None]
        worst, regressed = worst_items(inputs, task, views, rp, start)
        start += len(worst)
        tasks.append(TaskView(task, views, flipped, worst, regressed))
    return Analysis(boot.confidence, tasks)
