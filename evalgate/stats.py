"""Paired statistics for the ship/block gate: pure functions on per-item score arrays.

Every function takes two 1-D arrays of per-item scores, ``base`` and ``cand``, for the SAME
golden items in the same order, and works on the per-item differences ``d = cand - base``.
Positive differences mean the candidate scored higher. Results are small frozen dataclasses.

Why paired
    A fine-tuned candidate and its base answer the same items, and mostly get the same items
    right or wrong. The variance of ``mean(d)`` is ``(var_b + var_c - 2 cov) / n``; with the
    item-level correlation typical of base vs fine-tune (0.5 to 0.8) that is two to five times
    smaller than the unpaired ``(var_b + var_c) / n``, so the same decision needs two to five
    times fewer items (see ``benchmarks/gate_power.py``). Bootstrap resamples therefore draw
    item *indices*, so an item's base and candidate scores always stay together.

Choices
    * ``paired_bootstrap_ci``: BCa (bias-corrected and accelerated, Efron & Tibshirani 1993,
      eq. 14.10 and 14.15) by default, percentile on request. It follows ``scipy.stats.bootstrap``
      (``paired=True``): the bias correction ``z0`` uses the "mean" percentile-of-score (half
      of the ties count as below), the acceleration comes from the jackknife, here vectorised
      through the leave-one-out means ``(sum(d) - d_i) / (n - 1)``, and the bounds are linear
      quantiles of the bootstrap means. Differences from scipy: the proportion that gives
      ``z0`` is clipped to ``[1/(2B), 1 - 1/(2B)]`` so an extreme sample gives the outermost
      bootstrap mean instead of NaN; when every difference is equal the interval collapses to
      the estimate (scipy returns NaN). Resamples are drawn from
      ``numpy.random.default_rng(seed)`` in chunks of about 2**20 indices, so memory stays
      bounded (about 16 MB) for any n, and the same seed gives the same interval.
    * ``mcnemar_exact``: the exact (binomial) McNemar test on the discordant pairs, the
      right test for 0/1 items at the small n of golden sets; the two-sided p is
      ``min(1, 2 * P(X <= min(b, c)))`` with ``X ~ Binomial(b + c, 1/2)``, as
      ``scipy.stats.binomtest`` gives for p = 1/2.
    * ``one_sided_t``: the one-sided p-value of ``mean(d) > bound`` (``scipy.stats.ttest_1samp``,
      ``alternative="greater"``), the p each check contributes to Holm's family. When every
      difference is equal scipy gives NaN (on the bound) or, when they differ only by float
      rounding, an arbitrary value; here that case is decided exactly: p = 0 when the common
      difference is above the bound, 1 below it, 0.5 on it (the t statistic's +inf, -inf, 0).
    * ``holm``: Holm's step-down adjustment (strong family-wise error control, no assumptions on
      the dependence between metrics), monotone and capped at 1, as statsmodels' ``"holm"``.
    * ``min_detectable_effect`` / ``items_needed``: the normal-approximation power formula
      ``(z_{1-alpha} + z_{power}) * sd_diff / sqrt(n)``. The gate reads the *lower bound of a
      two-sided CI* at ``confidence`` and compares it with a threshold (0 or ``-margin``); that
      is a one-sided test at ``alpha = (1 - confidence) / 2`` (a 95% CI's lower bound is a
      one-sided 2.5% test). So these helpers take the same ``confidence`` as the CI and, with the
      default ``sided=2`` ("the confidence is that of a two-sided interval"), use
      ``alpha = (1 - confidence) / 2``; ``sided=1`` means ``confidence`` is that of a one-sided
      bound, ``alpha = 1 - confidence``. The effect is the distance between the true mean
      difference and the threshold the bound is compared with. The z formula is slightly
      optimistic for small n (the gate's t interval is wider); below about 30 items add a few.

Only numpy and scipy (``scipy.special``/``scipy.stats`` for the distributions) are used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special
from scipy import stats as _sps

__all__ = [
    "Interval",
    "McNemar",
    "holm",
    "items_needed",
    "mcnemar_exact",
    "min_detectable_effect",
    "one_sided_t",
    "paired_bootstrap_ci",
]

Alternative = Literal["two-sided", "less", "greater"]
_ALTERNATIVES = ("two-sided", "less", "greater")
# Indices drawn per chunk of bootstrap resamples (int64): bounded memory for any n.
_CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class Interval:
    """A confidence interval for ``mean(cand - base)``."""

    estimate: float
    low: float
    high: float
    method: str
    n: int
    n_resamples: int  # 0 when the interval collapsed without resampling
    confidence: float = 0.95


@dataclass(frozen=True)
class McNemar:
    b: int  # base right (1), candidate wrong (0)
    c: int  # base wrong (0), candidate right (1)
    p_value: float
    estimate: float  # (c - b) / n == mean(cand) - mean(base)
    alternative: str = "two-sided"


# ---------------------------------------------------------------------------- input checks


def _pair(base: Sequence[float] | np.ndarray, cand: Sequence[float] | np.ndarray, min_n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(base, dtype=np.float64)
    c = np.asarray(cand, dtype=np.float64)
    if b.ndim != 1 or c.ndim != 1:
        raise ValueError(f"expected 1-D score arrays, got shapes {b.shape} and {c.shape}")
    if b.shape != c.shape:
        raise ValueError(f"paired arrays differ in length: base has {b.size} items, cand has {c.size}")
    if b.size < min_n:
        raise ValueError(f"need at least {min_n} paired items, got {b.size}")
    if not (np.isfinite(b).all() and np.isfinite(c).all()):
        raise ValueError("scores must be finite (drop or impute missing scores before the statistics)")
    return b, c


def _constant(d: np.ndarray) -> bool:
    """All differences equal, up to float rounding (``(x + 0.25) - x`` is not exactly 0.25)."""
    return bool(np.ptp(d) <= 1e-12 * max(1.0, float(np.max(np.abs(d)))))


def _check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return confidence


def _check_alternative(alternative: str) -> str:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    return alternative


# ---------------------------------------------------------------------------- bootstrap


def _bootstrap_means(d: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    n = d.size
    out = np.empty(n_resamples, dtype=np.float64)
    rows = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n_resamples, rows):
        stop = min(start + rows, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = d[idx].sum(axis=1) / n
    return out


def paired_bootstrap_ci(
    base: Sequence[float] | np.ndarray,
    cand: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int | None = 0,
    method: Literal["bca", "percentile"] = "bca",
) -> Interval:
    """Two-sided bootstrap CI of ``mean(cand - base)``, resampling items (pairs stay together).

    Raises ValueError for fewer than 2 items. If every difference is the same, the interval is
    ``[estimate, estimate]`` (no resampling; ``n_resamples`` is reported as 0).
    """
    b, c = _pair(base, cand, min_n=2)
    confidence = _check_confidence(confidence)
    method = method.lower()  # type: ignore[assignment]
    if method not in ("bca", "percentile"):
        raise ValueError(f"method must be 'bca' or 'percentile', got {method!r}")
    n_resamples = int(n_resamples)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")

    d = c - b
    n = d.size
    estimate = float(d.sum() / n)
    if _constant(d):
        return Interval(estimate, estimate, estimate, method, n, 0, confidence)

    rng = np.random.default_rng(seed)
    boot = _bootstrap_means(d, n_resamples, rng)
    alpha = (1.0 - confidence) / 2.0
    if method == "percentile":
        q = np.array([alpha, 1.0 - alpha])
    else:
        # Bias correction: where the estimate sits in the bootstrap distribution (ties half-counted).
        prop = (np.count_nonzero(boot < estimate) + np.count_nonzero(boot <= estimate)) / (2.0 * n_resamples)
        prop = min(max(prop, 0.5 / n_resamples), 1.0 - 0.5 / n_resamples)
        z0 = float(special.ndtri(prop))
        # Acceleration from the jackknife (leave-one-out means), vectorised.
        loo = (d.sum() - d) / (n - 1)
        u = loo.mean() - loo
        den = float(np.sum(u * u))
        accel = float(np.sum(u**3)) / (6.0 * den**1.5) if den > 0 else 0.0
        z = special.ndtri(np.array([alpha, 1.0 - alpha]))
        num = z0 + z
        q = special.ndtr(z0 + num / (1.0 - accel * num))
    low, high = np.quantile(boot, q)
    return Interval(estimate, float(low), float(high), method, n, n_resamples, confidence)


# ---------------------------------------------------------------------------- McNemar


def mcnemar_exact(
    base: Sequence[float] | np.ndarray,
    cand: Sequence[float] | np.ndarray,
    *,
    alternative: Alternative = "two-sided",
) -> McNemar:
    """Exact McNemar test for paired 0/1 outcomes.

    ``b`` counts items the base got right and the candidate wrong, ``c`` the reverse. Under the
    null (equal accuracy) ``c ~ Binomial(b + c, 1/2)``. ``alternative="less"``: the candidate is
    worse than the base (small ``c``); ``"greater"``: better. p = 1 when there are no discordant pairs.
    """
    bb, cc = _pair(base, cand)
    alternative = _check_alternative(alternative)  # type: ignore[assignment]
    if not (np.isin(bb, (0.0, 1.0)).all() and np.isin(cc, (0.0, 1.0)).all()):
        raise ValueError("mcnemar_exact needs binary 0/1 scores")
    b = int(np.count_nonzero((bb == 1) & (cc == 0)))
    c = int(np.count_nonzero((bb == 0) & (cc == 1)))
    m = b + c
    if m == 0:
        p = 1.0
    elif alternative == "less":
        p = float(_sps.binom.cdf(c, m, 0.5))
    elif alternative == "greater":
        p = float(_sps.binom.sf(c - 1, m, 0.5))
    else:
        p = min(1.0, 2.0 * float(_sps.binom.cdf(min(b, c), m, 0.5)))
    return McNemar(b, c, p, (c - b) / bb.size, alternative)


# ---------------------------------------------------------------------------- t test


def one_sided_t(diff: Sequence[float] | np.ndarray, bound: float) -> float:
    """p-value of H0: ``mean(diff) <= bound`` against ``mean(diff) > bound`` (Student's t on the
    per-item differences). With no variance (every item moved by the same amount, e.g.
    identical answers) it is 0, 0.5 or 1, where scipy gives NaN."""
    d = np.asarray(diff, dtype=np.float64) - float(bound)
    if d.ndim != 1 or d.size < 2:
        raise ValueError(f"need at least 2 paired differences, got {d.size}")
    if not np.isfinite(d).all():
        raise ValueError("differences must be finite")
    if _constant(d):
        est = float(d.mean())
        if abs(est) <= 1e-12 * max(1.0, abs(float(bound)), float(np.max(np.abs(d)))):
            return 0.5  # on the bound, up to float rounding
        return 0.0 if est > 0 else 1.0
    return float(_sps.ttest_1samp(d, 0.0, alternative="greater").pvalue)


# ---------------------------------------------------------------------------- Holm


def holm(p_values: Sequence[float] | np.ndarray) -> list[float]:
    """Holm step-down adjusted p-values, in the input order (monotone in rank, capped at 1)."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError("p_values must be 1-D")
    if p.size == 0:
        return []
    if not (np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))):
        raise ValueError("p-values must be finite numbers in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty(m)
    out[order] = adjusted_sorted
    return [float(x) for x in out]



# ---------------------------------------------------------------------------- power


def _z_sum(confidence: float, power: float, sided: int, sd_diff: float = 0.0) -> float:
    confidence = _check_confidence(confidence)
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if sided not in (1, 2):
        raise ValueError(f"sided must be 1 or 2, got {sided}")
    if sd_diff < 0:
        raise ValueError(f"sd_diff must be >= 0, got {sd_diff}")
    alpha = (1.0 - confidence) / sided
    return float(special.ndtri(1.0 - alpha) + special.ndtri(power))


def min_detectable_effect(n: int, sd_diff: float, *, confidence: float = 0.95, power: float = 0.8, sided: int = 2) -> float:
    """Smallest true distance from the threshold that the gate's bound detects with ``power``.

    ``(z_{1-alpha} + z_{power}) * sd_diff / sqrt(n)`` with ``alpha = (1 - confidence) / sided``:
    ``sided=2`` (default) when ``confidence`` is that of the two-sided CI whose lower bound the
    gate reads (95% -> one-sided 2.5%), ``sided=1`` for a one-sided bound at ``confidence``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return _z_sum(confidence, power, sided, sd_diff) * float(sd_diff) / math.sqrt(n)


def items_needed(sd_diff: float, effect: float, confidence: float = 0.95, power: float = 0.8, *, sided: int = 2) -> int:
    """Items for ``min_detectable_effect(n, sd_diff, ...) <= effect`` (the inverse, rounded up)."""
    if effect <= 0:
        raise ValueError(f"effect must be > 0, got {effect}")
    n = (_z_sum(confidence, power, sided, sd_diff) * float(sd_diff) / float(effect)) ** 2
    return max(2, math.ceil(n - 1e-9))

