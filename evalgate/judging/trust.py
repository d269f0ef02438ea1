"""Whether a judge has earned a say in the gate on a task. Three conditions, all on the task's
calibration set: the judge scored enough of the grades people gave (coverage), people graded
enough answers for the agreement to mean something, and the lower bound of the kappa's CI (not
the point estimate) meets the minimum. A judge that fails any of them is advisory; each failed
condition is named, with its number and the setting it missed."""

from __future__ import annotations

from typing import Any, NamedTuple


class Failed(NamedTuple):
    condition: str  # "calibration", "coverage", "answers" or "agreement"
    text: str


def policy_setting(gate: Any, name: str) -> Any:
    """The gate setting `name` of `gate` (GateParams), or its default when there is no gate."""
    if gate is not None:
        return getattr(gate, name)
    from evalgate.config import GateParams

    return GateParams.model_fields[name].default


def trust_failures(a: dict[str, Any] | None, gate: Any = None) -> list[Failed]:
    """The conditions a task's calibration agreement `a` (metrics/judge.json `agreement.<task>`)
    fails under `gate` (GateParams; None: their defaults). Empty: the judge's checks count."""
    if not a or not a.get("n"):
        return [Failed("calibration", "no graded calibration items for the task, so its agreement with people is unknown")]
    min_coverage = policy_setting(gate, "judge_min_calibration_coverage")
    min_answers = policy_setting(gate, "judge_min_calibration_answers")
    min_agreement = policy_setting(gate, "judge_min_agreement")
    out = []
    coverage = a.get("coverage")
    if coverage is None:
        out.append(Failed("coverage", "calibration coverage not recorded (metrics/judge.json predates it; rerun `evalgate judge`)"))
    elif coverage < min_coverage:
        out.append(Failed(
            "coverage",
            f"calibration coverage {coverage:.2f} < gate.judge_min_calibration_coverage {min_coverage:g} "
            f"({a.get('scored')} of {a['n']} grades scored by the judge)",
        ))  # fmt: skip
    answers = a.get("answers") or 0
    if answers < min_answers:
        out.append(Failed("answers", f"{answers} graded calibration answers < gate.judge_min_calibration_answers {min_answers}"))
    qwk, (lo, hi) = a.get("qwk"), a.get("qwk_ci") or [None, None]
    if qwk is None or lo is None:
        out.append(Failed("agreement", f"the kappa {'is undefined' if qwk is None else 'has no CI'} on {a['n']} grades, so gate.judge_min_agreement {min_agreement:g} cannot be shown"))
    elif lo < min_agreement:
        out.append(Failed(
            "agreement",
            f"kappa CI lower bound {lo:.2f} < gate.judge_min_agreement {min_agreement:g} "
            f"(quadratic-weighted kappa {qwk:.2f}, 95% CI {lo:.2f} to {hi:.2f}, {a['n']} grades)",
        ))  # fmt: skip
    return out
