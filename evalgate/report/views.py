"""What the report shows, as typed views: per metric, per flip, per item, per task."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Interval:
    estimate: float
    low: float
    high: float
    n: int


@dataclass
class MetricView:
    """One task x metric: means, the paired delta with its CI, and the item-level scores."""

    task: str
    metric: str
    primary: bool
    binary: bool
    higher_is_better: bool
    items: int
    base: float | None
    base_se: float | None
    candidate: float | None
    candidate_se: float | None
    delta: Interval | None
    ids: list[str]
    base_scores: list[float | None]
    cand_scores: list[float | None]
    promoted: float | None = None
    vs_promoted: Interval | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    bounds: list[tuple[str, float]] = field(default_factory=list)  # (vs, bound in the improvement direction)

    @property
    def target(self) -> str:
        return f"{self.task}/{self.metric}"

    @property
    def sign(self) -> float:
        return 1.0 if self.higher_is_better else -1.0

    @property
    def unscored(self) -> int:
        return sum(b is None or c is None for b, c in zip(self.base_scores, self.cand_scores, strict=True))

    def improvement(self, i: int) -> float | None:
        b, c = self.base_scores[i], self.cand_scores[i]
        return None if b is None or c is None else self.sign * (c - b)

    @property
    def direction(self) -> str:
        """'better', 'worse', 'unchanged' (every item scored the same) or 'no clear change', from
        where the CI lies."""
        if self.delta is None:
            return "no clear change"
        if self.delta.low == self.delta.high == 0.0:
            return "unchanged"
        lo, hi = self.sign * self.delta.low, self.sign * self.delta.high
        if min(lo, hi) > 0:
            return "better"
        if max(lo, hi) < 0:
            return "worse"
        return "no clear change"


@dataclass
class Flip:
    id: str
    base: float
    candidate: float


@dataclass
class FlipView:
    """Items that changed verdict on a binary metric, or moved most on a continuous one."""

    metric: MetricView
    worse: list[Flip]
    better: list[Flip]
    worse_total: int
    better_total: int


@dataclass
class ItemView:
    """One item shown side by side: every metric's scores and explanations, prompt, answers."""

    task: str
    id: str
    anchor: str
    scores: list[dict[str, Any]]
    messages: list[dict[str, str]] | None
    reference: Any
    answers: dict[str, str | None]
    judge: list[dict[str, Any]]
    why: str


@dataclass
class TaskView:
    name: str
    metrics: list[MetricView]
    flips: list[FlipView]
    worst: list[ItemView]
    regressed_items: int

    @property
    def anchors(self) -> dict[str, str]:
        """Item id -> the anchor of its side-by-side view."""
        return {w.id: w.anchor for w in self.worst}


@dataclass
class Analysis:
    confidence: float
    tasks: list[TaskView]

    @property
    def metrics(self) -> list[MetricView]:
        return [m for t in self.tasks for m in t.metrics]


def fmt(x: float | None, digits: int = 3) -> str:
    """A score for display: '—' when absent."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.{digits}f}"


def fmt_delta(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "—"
    return f"{x:+.{digits}f}"
