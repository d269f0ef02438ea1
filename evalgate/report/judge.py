"""The report's judge section: per task and target the judge's base and candidate means, the
judge's agreement with people (and whether its checks counted), order consistency, requests and
cost, and the biggest movers with the judge's reasons for both answers."""

from __future__ import annotations

from typing import Any


def _compact(row: dict[str, Any], max_chars: int) -> dict[str, Any]:
    """One judge row as the side-by-side view shows it: which answer, the scores, the reasons."""
    which = row.get("side") or row.get("order") or ""
    scores = ", ".join(f"{c} {v:.2f}" if isinstance(v, int | float) else f"{c} unscored" for c, v in (row.get("scores") or {}).items())
    if row.get("mode") == "pairwise":
        scores = f"winner: {row.get('winner') or 'unscored'}"
    reasons = "; ".join(f"{c}: {r}" for c, r in (row.get("reasons") or {}).items())
    return {"which": which, "scores": scores, "reasons": reasons[:max_chars], "problem": row.get("problem")}


def judge_view(data: dict[str, Any] | None, rows: dict[tuple[str, str], list[dict[str, Any]]], gate: dict[str, Any] | None, policy: Any, movers: int, max_chars: int) -> dict[str, Any] | None:
    """`gate`: the recorded gate report; `policy`: the gate params (None: their defaults), which
    decide whether the judge's checks count on each task (judging.trust)."""
    from evalgate.judging.trust import policy_setting, trust_failures

    if data is None:
        return None
    prov = data.get("provenance") or {}
    judge = prov.get("judge") or {}
    agreement = data.get("agreement") or {}
    targets = []
    for task, metrics in (data.get("tasks") or {}).items():
        for metric, m in metrics.items():
            targets.append({
                "task": task, "metric": metric, "base": m.get("base"), "candidate": m.get("candidate"), "delta": m.get("delta"),
                "delta_stderr": m.get("delta_stderr"), "delta_ci": m.get("delta_ci") or [None, None], "n": m.get("n"), "base_coverage": m.get("base_coverage"),
                "candidate_coverage": m.get("candidate_coverage"),
            })  # fmt: skip
    trust = []
    for task, a in agreement.items():
        failed = trust_failures(a, policy)
        trust.append({
            "task": task, "qwk": a.get("qwk"), "ci": a.get("qwk_ci") or [None, None], "n": a.get("n"), "answers": a.get("answers"),
            "coverage": a.get("coverage"), "spearman": a.get("spearman"), "exact": a.get("exact"), "within_one": a.get("within_one"),
            "counts": not failed, "why": "; ".join(f.text for f in failed), "order": (data.get("order") or {}).get(task),
        })  # fmt: skip
    checks = [c for c in (gate or {}).get("checks", []) if str(c.get("target", "")).startswith("judge:")]
    # The biggest movers: items whose mean judge score (over criteria) moved most, each way.
    moved: dict[str, list[dict[str, Any]]] = {}
    by_item: dict[tuple[str, str], dict[str, list[float]]] = {}
    for (task, item), item_rows in rows.items():
        for r in item_rows:
            if r.get("mode") != "pointwise" or r.get("side") not in ("base", "candidate"):
                continue
            vals = [v for v in (r.get("scores") or {}).values() if isinstance(v, int | float)]
            if vals:
                by_item.setdefault((task, item), {}).setdefault(r["side"], []).append(sum(vals) / len(vals))
    deltas = []
    for (task, item), sides in by_item.items():
        if sides.get("base") and sides.get("candidate"):
            b, c = sum(sides["base"]) / len(sides["base"]), sum(sides["candidate"]) / len(sides["candidate"])
            deltas.append((task, item, b, c, c - b))
    for task in sorted({d[0] for d in deltas}):
        ranked = sorted((d for d in deltas if d[0] == task), key=lambda d: d[4])
        picks = ranked[:movers] + [d for d in reversed(ranked[-movers:]) if d not in ranked[:movers]]
        moved[task] = [
            {
                "id": item, "base": b, "candidate": c, "delta": dl,
                "rows": [_compact(r, max_chars) for r in rows.get((task, item), []) if r.get("mode") == "pointwise"],
            }  # fmt: skip
            for _, item, b, c, dl in sorted(picks, key=lambda d: d[4])
        ]
    requests = data.get("requests") or {}
    cost = data.get("cost") or {}
    return {
        "provider": judge.get("provider"), "model": judge.get("model"), "configured_model": judge.get("configured_model"),
        "modes": judge.get("modes") or [], "self_preference": judge.get("self_preference"),
        "rubrics": judge.get("rubrics") or {}, "targets": targets, "trust": trust,
        "min_agreement": policy_setting(policy, "judge_min_agreement"), "min_coverage": policy_setting(policy, "judge_min_calibration_coverage"),
        "min_answers": policy_setting(policy, "judge_min_calibration_answers"),
        "checks": checks, "movers": moved, "requests": requests, "ledger": cost.get("ledger") or [],
        "spent_usd": cost.get("spent_usd"), "cached_usd": cost.get("cached_usd"),
    }  # fmt: skip


def compact_rows(rows: list[dict[str, Any]], max_chars: int) -> list[dict[str, Any]]:
    return [_compact(r, max_chars) for r in rows]
