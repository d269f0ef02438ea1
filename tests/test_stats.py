"""evalgate.stats against scipy reference values, plus property tests of the gate's statistics."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats as sps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalgate import stats

# ---------------------------------------------------------------------------- fixtures


def _scores(n: int, seed: int, sd: float = 0.3, shift: float = -0.03) -> tuple[np.ndarray, np.ndarray]:
    """Continuous scores in [0, 1] with item-level correlation, differences sd ~ sd."""
    rng = np.random.default_rng(seed)
    base = np.clip(rng.normal(0.6, 0.25, n), 0, 1)
    cand = np.clip(base + shift + rng.normal(0, sd, n), 0, 1)
    return base, cand


def _binary(n: int, seed: int, p: float = 0.8, flip: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = (rng.random(n) < p).astype(float)
    cand = np.where(rng.random(n) < flip, 1 - base, base)
    return base, cand


def _scipy_ci(base, cand, method: str, confidence: float = 0.95):
    res = sps.bootstrap(
        (base, cand),
        lambda x, y, axis: np.mean(y - x, axis=axis),
        paired=True,
        vectorized=True,
        method=method,
        confidence_level=confidence,
        n_resamples=10_000,
        rng=12345,
    )
    return res.confidence_interval


# ---------------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize("method", ["bca", "percentile"])
@pytest.mark.parametrize("data", ["continuous", "binary"])
def test_bootstrap_matches_scipy(method: str, data: str) -> None:
    base, cand = _scores(150, 1) if data == "continuous" else _binary(200, 2)
    ours = stats.paired_bootstrap_ci(base, cand, method=method, n_resamples=10_000, seed=0)
    ref = _scipy_ci(base, cand, "BCa" if method == "bca" else "percentile")
    assert ours.estimate == pytest.approx(float(np.mean(cand - base)), abs=1e-12)
    assert ours.low == pytest.approx(ref.low, abs=0.01)
    assert ours.high == pytest.approx(ref.high, abs=0.01)
    assert (ours.method, ours.n, ours.n_resamples, ours.confidence) == (method, base.size, 10_000, 0.95)


def test_bca_corrects_skew_in_the_direction_scipy_does() -> None:
    rng = np.random.default_rng(3)
    base = np.zeros(80)
    cand = rng.exponential(1.0, 80) ** 2  # strongly right-skewed differences
    ours = stats.paired_bootstrap_ci(base, cand, method="bca")
    pct = stats.paired_bootstrap_ci(base, cand, method="percentile")
    ref = _scipy_ci(base, cand, "BCa")
    assert ours.low == pytest.approx(ref.low, rel=0.03)
    assert ours.high == pytest.approx(ref.high, rel=0.03)
    assert ours.low > pct.low and ours.high > pct.high  # BCa shifts a right-skewed interval up


def test_bootstrap_degenerate_and_invalid_inputs() -> None:
    base = np.array([0.2, 0.5, 0.9, 0.1])
    same = stats.paired_bootstrap_ci(base, base + 0.25)
    assert (same.estimate, same.low, same.high) == pytest.approx((0.25, 0.25, 0.25))
    assert same.n_resamples == 0
    zero = stats.paired_bootstrap_ci(base, base, method="percentile")
    assert (zero.low, zero.high) == (0.0, 0.0)
    with pytest.raises(ValueError, match="at least 2"):
        stats.paired_bootstrap_ci([1.0], [0.0])
    with pytest.raises(ValueError, match="differ in length"):
        stats.paired_bootstrap_ci([1.0, 0.0], [0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        stats.paired_bootstrap_ci([1.0, math.nan], [0.0, 1.0])
    with pytest.raises(ValueError, match="method"):
        stats.paired_bootstrap_ci([1.0, 0.0], [0.0, 1.0], method="basic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="confidence"):
        stats.paired_bootstrap_ci([1.0, 0.0], [0.0, 1.0], confidence=1.0)


def test_bootstrap_chunking_does_not_change_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    base, cand = _scores(300, 4)
    whole = stats.paired_bootstrap_ci(base, cand, n_resamples=2000, seed=7)
    monkeypatch.setattr(stats, "_CHUNK_ELEMENTS", 1000)  # 3 resamples per chunk
    chunked = stats.paired_bootstrap_ci(base, cand, n_resamples=2000, seed=7)
    assert chunked == whole


def test_bootstrap_large_n_runs_in_bounded_chunks() -> None:
    base, cand = _scores(100_000, 5, sd=0.3)
    ci = stats.paired_bootstrap_ci(base, cand, n_resamples=200, seed=1)
    se = np.std(cand - base, ddof=1) / math.sqrt(base.size)
    assert ci.low < ci.estimate < ci.high
    assert (ci.high - ci.low) == pytest.approx(2 * 1.96 * se, rel=0.25)


# ---------------------------------------------------------------------------- bootstrap properties

score_pairs = st.integers(min_value=8, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0, 1, allow_nan=False, width=32), min_size=n, max_size=n),
        st.lists(st.floats(0, 1, allow_nan=False, width=32), min_size=n, max_size=n),
    )
)
judge_pairs = st.integers(min_value=8, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(1, 5), min_size=n, max_size=n),
        st.lists(st.integers(1, 5), min_size=n, max_size=n),
    )
)
prop_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@prop_settings
@given(pair=st.one_of(score_pairs, judge_pairs), method=st.sampled_from(["bca", "percentile"]), seed=st.integers(0, 2**16))
def test_interval_properties(pair, method, seed) -> None:
    base, cand = (np.asarray(x, dtype=float) for x in pair)
    kw = dict(method=method, n_resamples=500, seed=seed)
    ci = stats.paired_bootstrap_ci(base, cand, confidence=0.95, **kw)
    assert ci.low <= ci.estimate <= ci.high
    # same seed -> identical interval
    assert stats.paired_bootstrap_ci(base, cand, confidence=0.95, **kw) == ci
    # a 99% interval contains the 90% one (same resamples)
    wide = stats.paired_bootstrap_ci(base, cand, confidence=0.99, **kw)
    narrow = stats.paired_bootstrap_ci(base, cand, confidence=0.90, **kw)
    assert wide.low <= narrow.low + 1e-12 and narrow.high <= wide.high + 1e-12
    # swapping base and cand negates the interval
    swapped = stats.paired_bootstrap_ci(cand, base, confidence=0.95, **kw)
    assert swapped.estimate == pytest.approx(-ci.estimate, abs=1e-12)
    assert swapped.low == pytest.approx(-ci.high, abs=1e-9)
    assert swapped.high == pytest.approx(-ci.low, abs=1e-9)


# ---------------------------------------------------------------------------- McNemar


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_mcnemar_matches_binomtest(seed: int, alternative: str) -> None:
    base, cand = _binary(60 + 20 * seed, seed, flip=0.2)
    res = stats.mcnemar_exact(base, cand, alternative=alternative)
    b = int(np.sum((base == 1) & (cand == 0)))
    c = int(np.sum((base == 0) & (cand == 1)))
    assert (res.b, res.c) == (b, c)
    assert res.estimate == pytest.approx(cand.mean() - base.mean())
    ref = sps.binomtest(c, b + c, 0.5, alternative=alternative).pvalue
    assert res.p_value == pytest.approx(ref, rel=1e-9)


def test_mcnemar_edge_cases() -> None:
    same = np.array([1, 0, 1, 1])
    assert stats.mcnemar_exact(same, same).p_value == 1.0
    # 10 items lost, none gained: two-sided p = 2 / 2**10; the candidate is worse ("less")
    base, cand = np.ones(30), np.r_[np.zeros(10), np.ones(20)]
    assert stats.mcnemar_exact(base, cand).p_value == pytest.approx(2 / 1024)
    assert stats.mcnemar_exact(base, cand, alternative="less").p_value == pytest.approx(1 / 1024)
    assert stats.mcnemar_exact(base, cand, alternative="greater").p_value == pytest.approx(1.0)
    # balanced discordance
    assert stats.mcnemar_exact([1, 0], [0, 1]).p_value == 1.0
    with pytest.raises(ValueError, match="binary"):
        stats.mcnemar_exact([0.5, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="alternative"):
        stats.mcnemar_exact([0, 1], [1, 1], alternative="worse")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- one-sided t


@pytest.mark.parametrize("bound", [-0.1, 0.0, 0.05])
def test_one_sided_t_matches_scipy(bound: float) -> None:
    base, cand = _scores(40, 6)
    d = cand - base
    ref = sps.ttest_1samp(d, bound, alternative="greater")
    assert stats.one_sided_t(d, bound) == pytest.approx(ref.pvalue, rel=1e-12)


def test_one_sided_t_zero_variance_is_decided_exactly() -> None:
    flat = np.full(5, 0.2)
    assert stats.one_sided_t(flat, 0.0) == 0.0  # every item 0.2 above the bound
    assert stats.one_sided_t(flat, 0.5) == 1.0  # every item below it
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(sps.ttest_1samp(np.zeros(5), 0.0, alternative="greater").pvalue)  # what scipy gives
    assert stats.one_sided_t(np.zeros(5), 0.0) == 0.5  # exactly on it
    x = np.array([0.1, 0.4, 0.7])
    rounded = (x + 0.2) - x  # 0.2 up to float rounding on every item
    assert stats.one_sided_t(rounded, 0.2) == 0.5 and stats.one_sided_t(rounded, 0.0) == 0.0
    with pytest.raises(ValueError):
        stats.one_sided_t([1.0], 0.0)


# ---------------------------------------------------------------------------- Holm


def test_holm_hand_computed() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max
    p = [0.01, 0.04, 0.03, 0.005]
    assert stats.holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [a <= 0.05 for a in stats.holm(p)] == [True, False, False, True]
    assert stats.holm([0.3, 0.6]) == pytest.approx([0.6, 0.6])
    assert stats.holm([0.9, 0.8]) == [1.0, 1.0]
    assert stats.holm([]) == []
    with pytest.raises(ValueError):
        stats.holm([0.1, 1.5])


def test_holm_matches_statsmodels_if_installed() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(10).random(12) ** 3
    reject, adjusted, *_ = multitest.multipletests(p, alpha=0.05, method="holm")
    assert stats.holm(p) == pytest.approx(list(adjusted))
    assert [a <= 0.05 for a in stats.holm(p)] == list(reject)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=30), st.floats(0.001, 0.2))
def test_holm_properties(p, alpha) -> None:
    adj = np.asarray(stats.holm(p))
    raw = np.asarray(p)
    assert np.all(adj >= raw - 1e-15) and np.all(adj <= 1.0)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(adj[order]) >= -1e-15)  # monotone in the rank of the raw p-values
    # the step-down definition: reject the k smallest while p_(i) <= alpha / (m - i)
    m = raw.size
    k = 0
    while k < m and raw[order[k]] <= alpha / (m - k):
        k += 1
    expected = np.zeros(m, dtype=bool)
    expected[order[:k]] = True
    assert [a <= alpha for a in stats.holm(p)] == list(expected)


# ---------------------------------------------------------------------------- power


def test_mde_formula_and_conventions() -> None:
    z975, z95, z80 = 1.959963984540054, 1.6448536269514722, 0.8416212335729143
    assert stats.min_detectable_effect(100, 0.3) == pytest.approx((z975 + z80) * 0.03)
    assert stats.min_detectable_effect(100, 0.3, sided=1) == pytest.approx((z95 + z80) * 0.03)
    assert stats.min_detectable_effect(100, 0.3, confidence=0.9) == stats.min_detectable_effect(100, 0.3, confidence=0.95, sided=1)
    # 1/sqrt(n) scaling
    assert stats.min_detectable_effect(400, 0.3) == pytest.approx(stats.min_detectable_effect(100, 0.3) / 2)
    # items_needed inverts it
    for sd, eff in [(0.3, 0.05), (0.45, 0.05), (1.0, 0.2)]:
        n = stats.items_needed(sd, eff)
        assert stats.min_detectable_effect(n, sd) <= eff < stats.min_detectable_effect(n - 1, sd)
    assert stats.items_needed(0.3, 0.05, 0.95, 0.8) == math.ceil(((z975 + z80) * 0.3 / 0.05) ** 2)
    with pytest.raises(ValueError):
        stats.min_detectable_effect(100, 0.3, sided=3)
    with pytest.raises(ValueError):
        stats.items_needed(0.3, 0.0)


@pytest.mark.parametrize("power", [0.5, 0.8, 0.9])
def test_mde_matches_simulated_power_of_the_gate_bound(power: float) -> None:
    """A true difference of MDE above the threshold puts the 95% CI's lower bound above it ~power of the time."""
    n, sd, reps = 150, 0.35, 4000
    mde = stats.min_detectable_effect(n, sd, confidence=0.95, power=power)
    rng = np.random.default_rng(11)
    d = rng.normal(mde, sd, size=(reps, n))  # threshold 0; the gate asks "is the lower bound > 0?"
    lower = d.mean(axis=1) - sps.t.ppf(0.975, n - 1) * d.std(axis=1, ddof=1) / math.sqrt(n)
    assert np.mean(lower > 0) == pytest.approx(power, abs=0.03)

