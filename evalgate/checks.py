"""Gate check kinds, as a registry: each kind is one decorated function.

A kind decides one check from its paired per-item scores and says what it measured::

    @check("max_drop_vs_base", needs="margin", versus="base", guards_regression=True, bound_sign=-1)
    def max_drop_vs_base(c: CheckInput) -> CheckResult: ...

`needs` is the policy field the kind reads (`threshold` or `margin`); `versus` is where its
reference side comes from (`None`: the candidate alone; `base`; `promoted`); a kind that
`guards_regression` is a no-worse-than check, so the policy (evalgate.policy) applies the
uninformative rule and the power warning to it; `bound_sign` turns its margin into the bound in
the metric's good direction (a drop: -margin; a gain: +margin); `min_items` is the fewest scored
items it decides on (fewer is an error, exit 2). Params validation, the gate,
`gate.json`, the report and summary.md learn every kind from here; an unknown kind is an error
naming the close matches. A new kind is one function decorated with `@check`, from any module
imported before the params are loaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from evalgate.registry import Registry, registry

if TYPE_CHECKING:
    from evalgate.config import GateCheck, GateParams

Needs = Literal["threshold", "margin"]
Versus = Literal["base", "promoted"] | None


@dataclass
class Pairs:
    """One check's per-item scores: the candidate's, and the reference side's when it has one."""

    ids: list[str]
    base: np.ndarray | None
    cand: np.ndarray
    items: int
    candidate_scored: int
    higher_is_better: bool
    binary: bool
    worst: float | None = None
    """The worst value a score can take (the metric's range), when known."""

    @property
    def sign(self) -> float:
        """+1 when higher is better: improvement = sign * (candidate - reference)."""
        return 1.0 if self.higher_is_better else -1.0


@dataclass(frozen=True)
class CheckInput:
    check: GateCheck
    pairs: Pairs
    gate: GateParams

    @property
    def level(self) -> str:
        return f"{round(self.gate.confidence * 100, 2):g}%"

    def interval(self, reference: np.ndarray) -> tuple[float, float, float]:
        """(estimate, low, high): the paired bootstrap CI of mean(candidate - reference), with
        the gate's confidence, resamples, seed and method."""
        from evalgate.stats import paired_bootstrap_ci

        g = self.gate
        ci = paired_bootstrap_ci(reference, self.pairs.cand, confidence=g.confidence, n_resamples=g.resamples, seed=g.seed, method=g.ci_method)
        return ci.estimate, ci.low, ci.high


@dataclass
class CheckResult:
    """What a kind decided. `p_value` is the one-sided p of the check's hypothesis; `tested` puts
    it in the family the policy corrects (Holm); `uninformative` is None where the rule does not
    apply to the kind, else whether the data could have shown a regression."""

    verdict: Literal["pass", "fail"]
    reason: str
    estimate: float | None
    ci: list[float] | None
    threshold: float | None
    p_value: float | None = None
    mde: float | None = None
    uninformative: bool | None = None
    tested: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckKind:
    name: str
    fn: Callable[[CheckInput], CheckResult]
    needs: Needs
    versus: Versus = None
    guards_regression: bool = False
    bound_sign: float = 1.0
    description: str = ""
    validate: Callable[[GateCheck], str | None] | None = None
    min_items: int = 2

    def bound(self, check: GateCheck) -> float:
        """The check's bound, as the policy states it (a drop margin as a negative number)."""
        value = (check.threshold if self.needs == "threshold" else check.margin) or 0.0
        return self.bound_sign * value


CHECKS: Registry[CheckKind] = registry("check kind")
"""Every check kind, by name: the built-ins below and any a plugin registers (`evalgate.registry`)."""


def decided(ok: bool, reason: str, interval: tuple[float, float, float], threshold: float, p_value: float, **extra: Any) -> CheckResult:
    """A pass/fail result on a confidence interval (`CheckInput.interval`)."""
    est, lo, hi = interval
    return CheckResult("pass" if ok else "fail", reason, estimate=est, ci=[lo, hi], threshold=threshold, p_value=p_value, **extra)


def check(
    name: str,
    *,
    needs: Needs,
    versus: Versus = None,
    guards_regression: bool = False,
    bound_sign: float = 1.0,
    description: str = "",
    validate: Callable[[GateCheck], str | None] | None = None,
    min_items: int = 2,
) -> Callable[[Callable[[CheckInput], CheckResult]], Callable[[CheckInput], CheckResult]]:
    """Register a check kind under `name` (see the module docstring)."""

    def register(fn: Callable[[CheckInput], CheckResult]) -> Callable[[CheckInput], CheckResult]:
        if name in CHECKS and CHECKS[name].fn is not fn:
            raise ValueError(f"check kind {name!r} is already registered by {CHECKS[name].fn.__module__}")
        doc = description or " ".join((fn.__doc__ or "").strip().split("\n\n")[0].split())
        CHECKS[name] = CheckKind(name, fn, needs, versus, guards_regression, bound_sign, doc, validate, min_items)
        return fn

    return register


def get_check(name: str) -> CheckKind:
    return CHECKS.lookup(name)


def fmt(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".") if abs(x) >= 0.001 or x == 0 else f"{x:.2g}"


def one_sided_p(diff: np.ndarray, bound: float) -> float:
    """p-value of H0: mean(diff) <= bound against mean(diff) > bound (paired t). With no
    variance (every item moved by the same amount, e.g. identical answers) it is 0 or 1."""
    from evalgate.stats import one_sided_t

    return one_sided_t(diff, bound)


# ----------------------------------------------------------------------------- built-in kinds


def _coverage_range(c: GateCheck) -> str | None:
    if not 0.0 <= (c.threshold or 0.0) <= 1.0:
        return "min_coverage threshold is a share of items, between 0 and 1"
    return None


@check("min_coverage", needs="threshold", validate=_coverage_range, min_items=0)
def min_coverage(c: CheckInput) -> CheckResult:
    """The share of golden items the candidate's answers could be scored on is at least `threshold`."""
    p = c.pairs
    coverage = p.candidate_scored / p.items if p.items else 0.0
    ok = coverage >= (c.check.threshold or 0.0)
    return CheckResult(
        "pass" if ok else "fail",
        f"{c.check.target}: {p.candidate_scored} of {p.items} items scored (coverage {fmt(coverage)}), "
        f"{'at or above' if ok else 'below'} the required {fmt(c.check.threshold or 0.0)}",
        estimate=coverage,
        ci=None,
        threshold=c.check.threshold,
        p_value=None,
        tested=False,
    )


@check("min", needs="threshold")
def min_floor(c: CheckInput) -> CheckResult:
    """The candidate's mean is at least `threshold` (at most, for lower-is-better metrics),
    decided on the CI's bound (`decide_on: lower_bound`, the default) or on the point estimate."""
    p, chk = c.pairs, c.check
    interval = c.interval(np.zeros_like(p.cand))
    est, lo, hi = interval
    on = (lo if p.higher_is_better else hi) if chk.decide_on == "lower_bound" else est
    thr = chk.threshold or 0.0
    ok = on >= thr if p.higher_is_better else on <= thr
    bound = "lower bound" if p.higher_is_better else "upper bound"
    what = f"its {c.level} CI {bound} {fmt(on)}" if chk.decide_on == "lower_bound" else f"the point estimate {fmt(est)}"
    rel = ("at or above" if ok else "below") if p.higher_is_better else ("at or below" if ok else "above")
    reason = (
        f"{chk.target}: candidate {fmt(est)} [{c.level} CI {fmt(lo)}, {fmt(hi)}]; {what} is {rel} the "
        f"{'floor' if p.higher_is_better else 'ceiling'} {fmt(thr)}"
    )
    # A point-estimate floor is not a test: its p-value is reported, not corrected with the family.
    return decided(ok, reason, interval, thr, one_sided_p(p.sign * p.cand, p.sign * thr), tested=chk.decide_on == "lower_bound")


def _paired(c: CheckInput, *, gain: bool) -> CheckResult:
    """Candidate minus reference on the same items: the CI's bound in the good direction must
    clear -margin (a drop, non-inferiority) or +margin (a gain, superiority)."""
    from evalgate.stats import mcnemar_exact, min_detectable_effect

    p, g, chk = c.pairs, c.gate, c.check
    assert p.base is not None
    versus = get_check(chk.kind).versus
    interval = c.interval(p.base)
    est, lo, hi = interval
    margin = chk.margin or 0.0
    sign = p.sign
    improvement = sign * (p.cand - p.base)
    good_lo = sign * lo if sign > 0 else sign * hi
    bound = margin if gain else -margin
    ok = good_lo > bound
    need = f"must exceed a gain of {fmt(margin)}" if gain else f"the allowed drop is {fmt(margin)}"
    sd = float(np.std(improvement, ddof=1))
    mde = min_detectable_effect(len(improvement), sd, confidence=g.confidence, power=g.power) if math.isfinite(sd) else None
    extra: dict[str, Any] = {}
    if p.binary:
        mc = mcnemar_exact(p.base, p.cand)
        extra["mcnemar"] = (
            {"worse": int(mc.b), "better": int(mc.c), "p_value": mc.p_value}
            if p.higher_is_better
            else {"better": int(mc.b), "worse": int(mc.c), "p_value": mc.p_value}
        )
    base_mean, cand_mean = float(np.mean(p.base)), float(np.mean(p.cand))
    if sign > 0:
        rel = "is above" if ok else "is not above"
    else:  # lower is better: the worse end of the interval is its upper bound
        rel = "is below" if ok else "is not below"
    bound_word = "lower" if sign > 0 else "upper"
    reason = (
        f"{chk.target}: candidate {fmt(cand_mean)} vs {versus} {fmt(base_mean)}, difference {est:+.3f} "
        f"[{c.level} CI {lo:+.3f}, {hi:+.3f}]; the CI's {bound_word} bound {rel} {sign * bound:+.3f} ({need})"
    )
    return decided(ok, reason, interval, bound * sign, one_sided_p(improvement, bound), mde=mde, uninformative=False, extra=extra)


@check("max_drop_vs_base", needs="margin", versus="base", guards_regression=True, bound_sign=-1.0)
def max_drop_vs_base(c: CheckInput) -> CheckResult:
    """Non-inferiority to the base model: the candidate loses at most `margin` on the same items."""
    return _paired(c, gain=False)


@check("max_drop_vs_promoted", needs="margin", versus="promoted", guards_regression=True, bound_sign=-1.0)
def max_drop_vs_promoted(c: CheckInput) -> CheckResult:
    """Non-inferiority to the promoted adapter: the candidate loses at most `margin` on the same
    items (skipped until a run has been promoted)."""
    return _paired(c, gain=False)


@check("min_gain_vs_base", needs="margin", versus="base", bound_sign=1.0)
def min_gain_vs_base(c: CheckInput) -> CheckResult:
    """Superiority over the base model: the candidate gains more than `margin` on the same items."""
    return _paired(c, gain=True)
