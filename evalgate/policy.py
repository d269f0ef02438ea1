"""The gate policy over any checks: each check decided by its kind (evalgate.checks), then the
rules that hold for every kind: the uninformative rule and the power warning for no-worse-than
checks, Holm's correction across the family of tested checks, and the verdict with an honest
headline. Kinds know nothing of each other; this module knows nothing of any one kind."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from evalgate.checks import CheckInput, Pairs, fmt, get_check
from evalgate.config import GateCheck, GateParams


def uninformative_reason(check: GateCheck, pairs: Pairs, mde: float | None) -> str | None:
    """Why a no-worse-than check could not have seen a regression, or None when it could.

    Its reference side scoring the worst possible value on every item leaves nothing to drop
    from (0 vs 0 "passes" whatever the candidate does); a minimum detectable effect that cannot
    be computed means the data say nothing about the margin. Zero variance alone is not the
    test: a candidate identical to the reference on every item is evidence of no change."""
    kind = get_check(check.kind)
    if not kind.guards_regression or pairs.base is None:
        return None
    if pairs.worst is not None and bool(np.all(pairs.base == pairs.worst)):
        return (
            f"the {kind.versus} scores {fmt(pairs.worst)}, the worst possible value, on all {len(pairs.base)} items, "
            "so there was nothing to drop from: this check could not have seen a regression"
        )
    if mde is None or not math.isfinite(mde):
        return "its minimum detectable effect cannot be computed from these items, so it could not have seen a regression"
    return None


def decide_check(check: GateCheck, pairs: Pairs, gate: GateParams) -> dict[str, Any]:
    """One check decided by its kind, with the uninformative rule applied; a gate.json entry."""
    from evalgate.errors import InputError

    kind = get_check(check.kind)
    out: dict[str, Any] = {"name": check.label, "target": check.target, "kind": check.kind, "n": len(pairs.cand), "items": pairs.items}
    if len(pairs.cand) < kind.min_items:
        raise InputError(f"gate: check '{check.label}': only {len(pairs.cand)} scored item(s); a verdict needs at least {kind.min_items}")
    result = kind.fn(CheckInput(check, pairs, gate))
    why = uninformative_reason(check, pairs, result.mde)
    if why is not None:
        assert pairs.base is not None
        base_mean, cand_mean = float(np.mean(pairs.base)), float(np.mean(pairs.cand))
        out.update(estimate=result.estimate, ci=result.ci, threshold=result.threshold, p_value=None, mde=None, uninformative=True)
        out["verdict"] = "fail" if gate.uninformative == "fail" else "uninformative"
        out["reason"] = (
            f"{check.target}: uninformative: candidate {fmt(cand_mean)} vs {kind.versus} {fmt(base_mean)}; {why} "
            f"(p-value and minimum detectable effect undefined; gate.uninformative: {gate.uninformative})"
        )
        out["_tested"] = False
        return out
    out.update(estimate=result.estimate, ci=result.ci, threshold=result.threshold, p_value=result.p_value, mde=result.mde)
    if result.uninformative is not None:
        out["uninformative"] = result.uninformative
    out.update(result.extra)
    out["verdict"] = result.verdict
    out["reason"] = result.reason
    out["_tested"] = result.tested and result.p_value is not None
    return out


def skipped_check(check: GateCheck, reason: str) -> dict[str, Any]:
    kind = get_check(check.kind)
    return {
        "name": check.label, "target": check.target, "kind": check.kind, "verdict": "skipped", "reason": reason,
        "estimate": None, "ci": None, "threshold": kind.bound(check), "p_value": None, "mde": None,
    }


def make_advisory(result: dict[str, Any], why: str) -> dict[str, Any]:
    """A decided check that does not count in the verdict (a judge that has not shown it agrees
    with people): its numbers are kept and shown, its would-be verdict named in the reason."""
    result["reason"] = f"{result['target']}: advisory: {why}; on its own numbers it would {result['verdict']}: {result['reason']}"
    result["verdict"] = "advisory"
    result["_tested"] = False
    return result


def apply_family(results: list[dict[str, Any]], gate: GateParams) -> list[dict[str, Any]]:
    """Holm across every tested check (advisory ones are not part of the family), then the power
    rule on the no-worse-than checks."""
    from evalgate.stats import holm

    tested = [i for i, r in enumerate(results) if r.pop("_tested", False)]
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
        guards = get_check(r["kind"]).guards_regression
        margin = abs(r["threshold"]) if guards and r.get("threshold") is not None else None
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
    return [_rounded(r) for r in results]


def verdict(results: list[dict[str, Any]]) -> str:
    return "fail" if any(r["verdict"] == "fail" for r in results) else "pass"


def check_counts(checks: list[dict[str, Any]]) -> dict[str, int]:
    """How many checks passed, failed, were skipped, and were uninformative (whatever their verdict)."""
    return {
        "total": len(checks),
        "passed": sum(c["verdict"] == "pass" for c in checks),
        "failed": sum(c["verdict"] == "fail" for c in checks),
        "skipped": sum(c["verdict"] == "skipped" for c in checks),
        "advisory": sum(c["verdict"] == "advisory" for c in checks),
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
    if n["advisory"]:
        counts += f", {n['advisory']} advisory (not counted)"
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
