"""Which items the report names: flips and movers per metric, the worst regressions per task."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from evalgate.config import ReportParams
from evalgate.report.judge import compact_rows
from evalgate.report.loaders import Inputs
from evalgate.report.views import Flip, FlipView, ItemView, MetricView


def flips(m: MetricView, limit: int, movers: int) -> FlipView | None:
    worse, better = [], []
    for i, item in enumerate(m.ids):
        b, c = m.base_scores[i], m.cand_scores[i]
        if b is None or c is None:
            continue
        if m.binary:
            bp, cp = b >= 0.5, c >= 0.5
            if bp == cp:
                continue
            good = cp if m.higher_is_better else bp
            (better if good else worse).append(Flip(item, b, c))
        else:
            imp = m.sign * (c - b)
            if imp < 0:
                worse.append(Flip(item, b, c))
            elif imp > 0:
                better.append(Flip(item, b, c))
    if not m.binary:
        worse.sort(key=lambda f: m.sign * (f.candidate - f.base))
        better.sort(key=lambda f: -m.sign * (f.candidate - f.base))
        limit = movers
    if not worse and not better:
        return None
    return FlipView(m, worse[:limit], better[:limit], len(worse), len(better))


def _clip(text: Any, limit: int) -> Any:
    if isinstance(text, str) and len(text) > limit:
        return f"{text[:limit]}\n[... {len(text) - limit:,} more characters not shown]"
    return text


def worst_items(inputs: Inputs, task: str, metrics: list[MetricView], rp: ReportParams, start: int) -> tuple[list[ItemView], int]:
    """The items that got worst, most regressed on the primary metric first, then by how many
    metrics regressed, then by the largest standardised drop on any metric."""
    if not metrics:
        return [], 0
    ids = metrics[0].ids
    primary = next((m for m in metrics if m.primary), metrics[0])
    index = {m.metric: {item: i for i, item in enumerate(m.ids)} for m in metrics}
    spread = {}
    for m in metrics:
        imps = [x for i in range(len(m.ids)) if (x := m.improvement(i)) is not None]
        spread[m.metric] = float(np.std(imps)) if len(imps) > 1 and np.std(imps) > 0 else 1.0
    ranked = []
    for item in ids:
        imps = {}
        for m in metrics:
            i = index[m.metric].get(item)
            if i is not None and (x := m.improvement(i)) is not None:
                imps[m.metric] = x
        if not any(v < 0 for v in imps.values()):
            continue
        p = min(imps.get(primary.metric, 0.0), 0.0)
        n_worse = sum(v < 0 for v in imps.values())
        z = min(v / spread[k] for k, v in imps.items())
        ranked.append(((p, -n_worse, z), item, imps))
    ranked.sort(key=lambda r: r[0])
    out = []
    answers = inputs.predictions
    golden = inputs.golden.get(task, {})
    for n, (_, item, imps) in enumerate(ranked[: rp.worst_n]):
        scores = []
        for m in metrics:
            i = index[m.metric].get(item)
            row = inputs.eval.rows[(task, m.metric)][i] if i is not None else {}
            scores.append(
                {
                    "metric": m.metric,
                    "primary": m.primary,
                    "base": row.get("base"),
                    "candidate": row.get("candidate"),
                    "improvement": imps.get(m.metric),
                    "base_explanation": _clip(row.get("base_explanation"), rp.max_chars),
                    "candidate_explanation": _clip(row.get("candidate_explanation"), rp.max_chars),
                }
            )
        g = golden.get(item)
        worse = [k for k, v in imps.items() if v < 0]
        why = f"{primary.metric} dropped by {-imps[primary.metric]:.3g}" if imps.get(primary.metric, 0) < 0 else ""
        others = [k for k in worse if k != primary.metric]
        if others:
            why += ("; " if why else "") + "worse on " + ", ".join(others)
        out.append(
            ItemView(
                task=task,
                id=item,
                anchor=f"item-{start + n}",
                scores=scores,
                messages=[{"role": msg["role"], "content": _clip(msg["content"], rp.max_chars)} for msg in g.messages] if g else None,
                reference=_clip(g.reference if isinstance(g.reference, str) or g.reference is None else _pretty(g.reference), rp.max_chars) if g else None,
                answers={
                    side: _clip(answers[side][(task, item)].get("output"), rp.max_chars) if (task, item) in answers.get(side, {}) else None
                    for side in ("base", "candidate")
                },
                judge=compact_rows(inputs.judge_rows.get((task, item), []) or inputs.judge_rows.get(("", item), []), rp.max_chars),
                why=why,
            )
        )
    return out, len(ranked)


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)
