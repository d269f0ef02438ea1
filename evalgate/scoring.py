"""Scoring both sides item by item, and the per-metric summary that `metrics/eval.json` holds."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalgate.generate import Generation
from evalgate.scorers import Score, Scorer
from evalgate.tasks import GoldenItem, ScorerEntry, Task


@dataclass
class MetricScores:
    metric: str
    scorer: str
    higher_is_better: bool
    binary: bool
    primary: bool
    value_range: tuple[float, float] | None = None
    sides: dict[str, list[Score]] = field(default_factory=dict)


@dataclass
class ScoredTask:
    task: str
    metrics: list[MetricScores]
    rows: list[dict[str, Any]]


def _safe_score(scorer: Scorer, outputs: list[str], refs: list[Any], records: list[dict[str, Any]]) -> list[Score]:
    scores = scorer.score(outputs, refs, records)
    if len(scores) != len(outputs):
        raise RuntimeError(f"scorer {scorer.name} returned {len(scores)} scores for {len(outputs)} outputs")
    return [
        s if s.value is None or math.isfinite(s.value) else Score(None, f"non-finite value {s.value}: {s.explanation}")
        for s in scores
    ]


def score_task(
    task: Task,
    scorers: Sequence[tuple[ScorerEntry, Scorer]],
    items: Sequence[GoldenItem],
    outputs: Mapping[str, Sequence[Generation]],
) -> ScoredTask:
    field_name = task.spec.reference_field
    refs = [it.record.get(field_name) for it in items]
    records = [it.record for it in items]
    metrics: list[MetricScores] = []
    for entry, scorer in scorers:
        m = MetricScores(
            metric=entry.metric_name,
            scorer=entry.scorer,
            higher_is_better=scorer.higher_is_better,
            binary=scorer.binary,
            primary=entry.metric_name == task.spec.primary,
            value_range=scorer.value_range,
        )
        for side, gens in outputs.items():
            m.sides[side] = _safe_score(scorer, [g.text for g in gens], refs, records)
        metrics.append(m)
    rows = []
    for n, item in enumerate(items):
        for m in metrics:
            row: dict[str, Any] = {"task": task.name, "id": item.id, "metric": m.metric, "scorer": m.scorer}
            for side in outputs:
                row[side] = m.sides[side][n].value
            for side in outputs:
                row[f"{side}_explanation"] = m.sides[side][n].explanation
            rows.append(row)
    return ScoredTask(task.name, metrics, rows)


def _mean_stderr(values: Sequence[float]) -> tuple[float | None, float | None]:
    n = len(values)
    if n == 0:
        return None, None
    mean = math.fsum(values) / n
    if n < 2:
        return mean, None
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def summarise(m: MetricScores) -> dict[str, Any]:
    """Means over the items both sides scored (paired), the delta and its paired stderr."""
    base, cand = m.sides["base"], m.sides["candidate"]
    pairs = [(b.value, c.value) for b, c in zip(base, cand, strict=True) if b.value is not None and c.value is not None]
    b_mean, b_se = _mean_stderr([b for b, _ in pairs])
    c_mean, c_se = _mean_stderr([c for _, c in pairs])
    d_mean, d_se = _mean_stderr([c - b for b, c in pairs])
    total = len(base)
    return {
        "base": _r(b_mean),
        "candidate": _r(c_mean),
        "delta": _r(d_mean),
        "delta_stderr": _r(d_se),
        "base_stderr": _r(b_se),
        "candidate_stderr": _r(c_se),
        "n": len(pairs),
        "items": total,
        "base_coverage": _r(sum(s.value is not None for s in base) / total) if total else None,
        "candidate_coverage": _r(sum(s.value is not None for s in cand) / total) if total else None,
        "higher_is_better": m.higher_is_better,
        "binary": m.binary,
        "primary": m.primary,
        "range": list(m.value_range) if m.value_range is not None else None,
    }


def with_ci(summary: dict[str, Any], m: MetricScores, resamples: int = 2000) -> dict[str, Any]:
    """The summary with a paired 95% bootstrap CI of candidate - base over the items both sides scored."""
    from evalgate.stats import paired_bootstrap_ci

    pairs = [(b.value, c.value) for b, c in zip(m.sides["base"], m.sides["candidate"], strict=True) if b.value is not None and c.value is not None]
    if len(pairs) >= 2:
        ci = paired_bootstrap_ci([b for b, _ in pairs], [c for _, c in pairs], n_resamples=resamples, method="percentile")
        summary["delta_ci"] = [round(ci.low, 6), round(ci.high, 6)]
    else:
        summary["delta_ci"] = None
    return summary


def aggregate(scored: Sequence[ScoredTask]) -> dict[str, dict[str, Any]]:
    return {st.task: {m.metric: summarise(m) for m in st.metrics} for st in scored}
