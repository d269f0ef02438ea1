"""How well a judge agrees with people: Spearman's rho, quadratic-weighted Cohen's kappa (with a
bootstrap CI over answers), exact and within-one agreement, on the calibration set.

Every grade people gave counts. A grade the judge left unscored (an unreadable reply, a score
off the scale) is not dropped: it stands in as the score farthest from the person's grade, so a
judge that grades 2 answers of 10 well cannot show the agreement of those 2."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

LEVELS = 5


def quadratic_kappa(human: Sequence[int], judge: Sequence[int]) -> float | None:
    """Cohen's kappa with quadratic weights on the 1..5 scale; None when undefined (one
    category only on both sides: no disagreement could have been measured)."""
    h = np.asarray(human, dtype=int) - 1
    j = np.asarray(judge, dtype=int) - 1
    if len(h) == 0:
        return None
    observed = np.zeros((LEVELS, LEVELS))
    np.add.at(observed, (h, j), 1.0)
    observed /= observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    idx = np.arange(LEVELS)
    weights = (idx[:, None] - idx[None, :]) ** 2 / (LEVELS - 1) ** 2
    denom = float((weights * expected).sum())
    if denom == 0.0:
        return None
    return 1.0 - float((weights * observed).sum()) / denom


def farthest(grade: int) -> int:
    """The score on the 1..5 scale farthest from a person's `grade` (1 on a tie, at 3): what an
    unscored grade is counted as. It carries the largest quadratic weight that grade can have, so
    the unscored grade adds the most observed disagreement it could; it is a miss for the exact
    and within-one shares too (it is always 2 or more levels away)."""
    return LEVELS if grade - 1 < LEVELS - grade else 1


def agreement(
    human: Sequence[int], judge: Sequence[float | None], groups: Sequence[str] | None = None, *, resamples: int = 2000, seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """Agreement of the judge's scores (continuous ones are rounded for kappa and the shares)
    with people's 1-5 grades, over every grade people gave: a judge score of None (unscored)
    counts as the farthest score from the person's grade (`farthest`). `n` is every grade,
    `scored` those the judge scored, `coverage` their share. The CI resamples whole answers
    (`groups`: one answer's criteria move together), not single grades, and exists whenever
    there is a grade and the kappa is defined in the resamples; nothing is held back at small n
    (the gate asks for enough answers itself)."""
    from scipy.stats import spearmanr

    h = np.asarray(human, dtype=int)
    n = len(h)
    scored = sum(v is not None for v in judge)
    j_cont = np.asarray([float(farthest(int(g))) if v is None else float(v) for g, v in zip(h, judge, strict=True)], dtype=float)
    j = np.clip(np.rint(j_cont), 1, LEVELS).astype(int)
    out: dict[str, Any] = {
        "n": n, "scored": scored, "coverage": round(scored / n, 4) if n else None,
        "qwk": None, "qwk_ci": [None, None], "spearman": None, "exact": None, "within_one": None,
    }  # fmt: skip
    if n == 0:
        return out
    out["qwk"] = _round(quadratic_kappa(h, j))
    rho = spearmanr(h, j_cont).statistic if len(set(h)) > 1 and len(set(j_cont)) > 1 else None
    out["spearman"] = _round(float(rho)) if rho is not None and math.isfinite(rho) else None
    out["exact"] = round(float(np.mean(h == j)), 4)
    out["within_one"] = round(float(np.mean(np.abs(h - j) <= 1)), 4)
    if resamples > 0:
        rng = np.random.default_rng(seed)
        keys = list(groups) if groups is not None else list(range(n))
        members: dict[Any, list[int]] = {}
        for i, g in enumerate(keys):
            members.setdefault(g, []).append(i)
        clusters = [np.asarray(v) for v in members.values()]
        stats = []
        for _ in range(resamples):
            pick = np.concatenate([clusters[c] for c in rng.integers(0, len(clusters), len(clusters))])
            k = quadratic_kappa(h[pick], j[pick])
            if k is not None:
                stats.append(k)
        if stats:
            alpha = (1 - confidence) / 2
            out["qwk_ci"] = [_round(float(np.quantile(stats, alpha))), _round(float(np.quantile(stats, 1 - alpha)))]
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
