"""How well a judge agrees with people: Spearman's rho, quadratic-weighted Cohen's kappa (with a
bootstrap CI over items), exact and within-one agreement, on the calibration set."""

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


def agreement(
    human: Sequence[int], judge: Sequence[float], groups: Sequence[str] | None = None, *, resamples: int = 2000, seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """Agreement of the judge's scores (continuous ones are rounded for kappa and the shares)
    with people's 1-5 grades, over the pairs where the judge gave a score. The CI resamples
    whole answers (`groups`: one answer's criteria move together), not single grades."""
    from scipy.stats import spearmanr

    h = np.asarray(human, dtype=int)
    j_cont = np.asarray(judge, dtype=float)
    j = np.clip(np.rint(j_cont), 1, LEVELS).astype(int)
    n = len(h)
    out: dict[str, Any] = {"n": n, "qwk": None, "qwk_ci": [None, None], "spearman": None, "exact": None, "within_one": None}
    if n == 0:
        return out
    out["qwk"] = _round(quadratic_kappa(h, j))
    rho = spearmanr(h, j_cont).statistic if len(set(h)) > 1 and len(set(j_cont)) > 1 else None
    out["spearman"] = _round(float(rho)) if rho is not None and math.isfinite(rho) else None
    out["exact"] = round(float(np.mean(h == j)), 4)
    out["within_one"] = round(float(np.mean(np.abs(h - j) <= 1)), 4)
    if n >= 5:
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
