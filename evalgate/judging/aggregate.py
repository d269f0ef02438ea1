"""From outcomes to the gate's rows: per item and criterion the base's and candidate's scores
(mean over samples), pairwise win rates over both orders, and each task's summary."""

from __future__ import annotations

from typing import Any

from evalgate.config import JudgeParams
from evalgate.judging.engine import Outcome
from evalgate.judging.planning import ORDERS, SIDES, Item, Plan, Planned
from evalgate.judging.rubric import Rubric
from evalgate.scorers import Score
from evalgate.scoring import MetricScores, summarise, with_ci


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _variance(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    m = sum(values) / len(values)
    return sum((v - m) ** 2 for v in values) / (len(values) - 1)


def _win(outcome: Outcome, order: str) -> float | None:
    """+1 the candidate, -1 the base, 0 a tie, in one order's reply; None unscored."""
    w = outcome.parsed.winner
    if w is None:
        return None
    if w == "tie":
        return 0.0
    first_is_candidate = order == "candidate_first"
    return 1.0 if (w == "A") == first_is_candidate else -1.0


def assemble(plan: Plan, items: list[Item], rubrics_of: dict[str, list[Rubric]], j: JudgeParams) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """The per-request rows, the gate's per-item score rows, the per-task metric summaries and
    the pairwise order statistics."""
    judge_rows = []
    index: dict[tuple[str, str, str, str, str | None, str | None], list[Planned]] = {}
    for p in plan.requests:
        if p.calibration:
            continue
        o = p.outcome
        assert o is not None
        row = {
            "task": p.task, "id": p.id, "rubric": p.rubric, "mode": p.mode, "side": p.side, "order": p.order,
            "sample": p.sample, "scores": o.parsed.scores, "winner": _winner_side(o, p.order) if p.mode == "pairwise" else None,
            "reasons": o.parsed.reasons, "raw": o.raw, "problem": o.parsed.problem, "cause": o.cause, "retried": o.retried,
            "provider": "", "model": o.model,
            "input_tokens": o.input_tokens, "output_tokens": o.output_tokens, "cost_usd": round(o.cost_usd, 8),
            "requests": o.requests, "repaired": o.repaired, "cache_hit": p.cache_hit,
        }  # fmt: skip
        judge_rows.append(row)
        index.setdefault((p.task, p.id, p.rubric, p.mode, p.side, p.order), []).append(p)

    score_rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    order_stats: dict[str, Any] = {}
    by_task: dict[str, list[Item]] = {}
    for it in items:
        by_task.setdefault(it.task.name, []).append(it)
    for task, task_items in by_task.items():
        metrics[task] = {}
        for rubric in rubrics_of[task]:
            if "pointwise" in j.modes:
                for c in rubric.criteria:
                    m = MetricScores(metric=c, scorer=f"judge:{rubric.name}", higher_is_better=True, binary=False, primary=False, value_range=(1.0, 5.0))
                    variances = []
                    for side in SIDES:
                        m.sides[side] = []
                        for it in task_items:
                            outs = [p.outcome for p in index.get((task, it.golden.id, rubric.name, "pointwise", side, None), [])]
                            vals = [o.parsed.scores.get(c) for o in outs if o is not None]
                            got = [v for v in vals if v is not None]
                            reason = next((o.parsed.reasons.get(c, "") for o in outs if o is not None and o.parsed.reasons.get(c)), "")
                            if not got:
                                problem = next((o.parsed.problem for o in outs if o is not None and o.parsed.problem), "unscored")
                                m.sides[side].append(Score(None, f"unscored: {problem}"))
                            else:
                                m.sides[side].append(Score(_mean(got), reason))
                                if (v := _variance(got)) is not None:
                                    variances.append(v)
                    summary = with_ci(summarise(m), m)
                    summary["rubric"] = rubric.name
                    if j.samples > 1:
                        summary["mean_item_variance"] = round(_mean(variances), 6) if variances else None
                    metrics[task][c] = summary
                    for n, it in enumerate(task_items):
                        score_rows.append({
                            "task": task, "id": it.golden.id, "metric": c, "scorer": f"judge:{rubric.name}",
                            "base": m.sides["base"][n].value, "candidate": m.sides["candidate"][n].value,
                            "base_explanation": m.sides["base"][n].explanation, "candidate_explanation": m.sides["candidate"][n].explanation,
                        })  # fmt: skip
            if "pairwise" in j.modes:
                m = MetricScores(metric="win_rate", scorer=f"judge:{rubric.name}", higher_is_better=True, binary=False, primary=False, value_range=(-1.0, 1.0))
                m.sides = {"base": [], "candidate": []}
                flips = consistent = both = 0
                for it in task_items:
                    per_sample = []
                    for sample in range(j.samples):
                        wins = {}
                        for order in ORDERS:
                            ps = [p for p in index.get((task, it.golden.id, rubric.name, "pairwise", None, order), []) if p.sample == sample]
                            wins[order] = _win(ps[0].outcome, order) if ps and ps[0].outcome is not None else None
                        if wins["base_first"] is None or wins["candidate_first"] is None:
                            continue
                        both += 1
                        if wins["base_first"] == wins["candidate_first"]:
                            consistent += 1
                            per_sample.append(wins["base_first"])
                        else:
                            if wins["base_first"] != 0 and wins["candidate_first"] != 0:
                                flips += 1
                            per_sample.append(0.0)
                    value = _mean(per_sample)
                    expl = "unscored: a reply in one order could not be read" if value is None else f"both orders: {value:+.2f}"
                    m.sides["base"].append(Score(0.0 if value is not None else None, ""))
                    m.sides["candidate"].append(Score(value, expl))
                summary = with_ci(summarise(m), m)
                summary["rubric"] = rubric.name
                metrics[task]["win_rate"] = summary
                order_stats[task] = {
                    "pairs": both,
                    "order_consistency": round(consistent / both, 4) if both else None,
                    "position_bias": round(flips / both, 4) if both else None,
                }
                for n, it in enumerate(task_items):
                    score_rows.append({
                        "task": task, "id": it.golden.id, "metric": "win_rate", "scorer": f"judge:{rubric.name}",
                        "base": m.sides["base"][n].value, "candidate": m.sides["candidate"][n].value,
                        "base_explanation": "", "candidate_explanation": m.sides["candidate"][n].explanation,
                    })  # fmt: skip
    return judge_rows, score_rows, metrics, order_stats


def _winner_side(o: Outcome, order: str | None) -> str | None:
    w = o.parsed.winner
    if w is None or order is None:
        return None
    if w == "tie":
        return "tie"
    first = "candidate" if order == "candidate_first" else "base"
    other = "base" if first == "candidate" else "candidate"
    return first if w == "A" else other
