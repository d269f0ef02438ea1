"""Reading a judge's reply: the last well-formed JSON object in it, checked against the rubric.

A reply that cannot be read is never a low score: the caller asks once for a repair, and
otherwise records the item as unscored with the raw reply kept.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

_DECODER = json.JSONDecoder()


def last_json_object(text: str) -> dict[str, Any] | None:
    """The last top-level JSON object in `text` (prose or code fences around it are fine)."""
    found = None
    i = text.find("{")
    while i >= 0:
        try:
            obj, end = _DECODER.raw_decode(text, i)
        except ValueError:
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            found = obj
            i = text.find("{", end)
        else:
            i = text.find("{", i + 1)
    return found


def _score(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and re.fullmatch(r"\s*[1-5]\s*", value):
        return int(value)
    if isinstance(value, (int, float)) and math.isfinite(value) and float(value).is_integer() and 1 <= value <= 5:
        return int(value)
    return None


@dataclass
class Parsed:
    scores: dict[str, float | None] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    winner: str | None = None
    problem: str | None = None
    """Why the reply (or part of it) could not be read; None when it was read in full."""


def parse_pointwise(text: str, criteria: list[str]) -> Parsed:
    obj = last_json_object(text)
    out = Parsed(scores={c: None for c in criteria})
    if obj is None:
        out.problem = "no JSON object found"
        return out
    missing = []
    for c in criteria:
        entry = obj.get(c)
        if isinstance(entry, dict):
            score, reason = _score(entry.get("score")), entry.get("reason")
        else:  # {"accuracy": 4}: accepted, without a reason
            score, reason = _score(entry), None
        out.scores[c] = float(score) if score is not None else None
        if isinstance(reason, str):
            out.reasons[c] = reason.strip()
        if score is None:
            missing.append(c)
    if missing:
        out.problem = f"no score from 1 to 5 for {', '.join(missing)}"
    return out


def parse_pairwise(text: str) -> Parsed:
    obj = last_json_object(text)
    out = Parsed()
    if obj is None:
        out.problem = "no JSON object found"
        return out
    winner = obj.get("winner")
    winner = winner.strip().lower() if isinstance(winner, str) else None
    mapped = {"a": "A", "b": "B", "tie": "tie", "answer a": "A", "answer b": "B"}.get(winner or "")
    if mapped is None:
        out.problem = 'no "winner" of "A", "B" or "tie"'
        return out
    out.winner = mapped
    if isinstance(obj.get("reason"), str):
        out.reasons["winner"] = obj["reason"].strip()
    return out


def geval_scores(text: str, logprobs: tuple[dict[str, float], ...] | None, tokens: list[str] | None, criteria: list[str]) -> dict[str, float]:
    """G-Eval: where the server returned each reply token's top log-probabilities, a criterion's
    score is the probability-weighted mean over "1".."5" at the token that holds its score
    (when those five hold at least half the probability mass there)."""
    if not logprobs or not tokens or len(tokens) != len(logprobs):
        return {}
    starts, pos = [], 0
    for t in tokens:
        starts.append(pos)
        pos += len(t)
    if "".join(tokens) != text:
        return {}
    out = {}
    for c in criteria:
        found = list(re.finditer(r'"' + re.escape(c) + r'"\s*:\s*\{\s*"score"\s*:\s*"?([1-5])', text))
        if not found:
            continue
        at = found[-1].start(1)  # the last occurrence, like last_json_object
        idx = max(i for i, s in enumerate(starts) if s <= at)
        weighted = probability_weighted(logprobs[idx])
        if weighted is not None:
            out[c] = weighted
    return out


def probability_weighted(alternatives: dict[str, float], *, logs: bool = True, min_mass: float = 0.5) -> float | None:
    """The mean of 1..5 weighted by each digit's probability; None when they hold < min_mass."""
    mass: dict[int, float] = {}
    for tok, v in alternatives.items():
        key = tok.strip()
        if key in {"1", "2", "3", "4", "5"}:
            mass[int(key)] = mass.get(int(key), 0.0) + (math.exp(v) if logs else v)
    total = sum(mass.values())
    if total < min_mass or total <= 0:
        return None
    return sum(k * p for k, p in mass.items()) / total
