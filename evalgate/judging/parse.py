"""Reading a judge's reply: the JSON object in it that carries the rubric's criteria (pointwise)
or a `winner` (pairwise), checked against the rubric.

A reply that cannot be read is never a low score: the caller asks once for a repair, and
otherwise records the item as unscored with the raw reply kept. Digits are read in NFKC, so a
full-width "４" is a 4, in a score and among a token's top log-probabilities alike.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_DECODER = json.JSONDecoder()
DIGITS = ("1", "2", "3", "4", "5")


def json_objects(text: str) -> list[tuple[dict[str, Any], int, int]]:
    """Every top-level JSON object in `text` (prose or code fences around them are fine), with
    where it starts and ends, in order."""
    found = []
    i = text.find("{")
    while i >= 0:
        try:
            obj, end = _DECODER.raw_decode(text, i)
        except (ValueError, RecursionError):
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            found.append((obj, i, end))
            i = text.find("{", end)
        else:
            i = text.find("{", i + 1)
    return found


def last_json_object(text: str) -> dict[str, Any] | None:
    """The last top-level JSON object in `text`."""
    found = json_objects(text)
    return found[-1][0] if found else None


def grade_object(text: str, keys: Sequence[str]) -> tuple[dict[str, Any], int, int] | None:
    """The object that carries the most of `keys` (the last of those, as a judge's final word
    follows its drafts), wherever it is: an unrelated object after it (`{"note": "done"}`) does
    not hide it. Without any, the last object; None when there is no object at all."""
    found = json_objects(text)
    best, most = None, 0
    for entry in found:
        n = sum(k in entry[0] for k in keys)
        if n and n >= most:
            best, most = entry, n
    return best or (found[-1] if found else None)


def digit(text: str) -> int | None:
    """1..5 when `text`, in NFKC and stripped, is one of those digits (a full-width "４" is 4)."""
    folded = unicodedata.normalize("NFKC", text).strip()
    return int(folded) if folded in DIGITS else None


def _score(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return digit(value)
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
    found = grade_object(text, criteria)
    out = Parsed(scores={c: None for c in criteria})
    if found is None:
        out.problem = "no JSON object found"
        return out
    obj = found[0]
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
    found = grade_object(text, ["winner"])
    out = Parsed()
    if found is None:
        out.problem = "no JSON object found"
        return out
    obj = found[0]
    winner = obj.get("winner")
    winner = unicodedata.normalize("NFKC", winner).strip().lower() if isinstance(winner, str) else None
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
    (when those five hold at least half the probability mass there), read in the object
    `parse_pointwise` reads."""
    if not logprobs or not tokens or len(tokens) != len(logprobs):
        return {}
    starts, pos = [], 0
    for t in tokens:
        starts.append(pos)
        pos += len(t)
    if "".join(tokens) != text:
        return {}
    found = grade_object(text, criteria)
    if found is None:
        return {}
    _, lo, hi = found
    out = {}
    for c in criteria:
        pattern = r'"' + re.escape(c) + r'"\s*:\s*\{\s*"score"\s*:\s*"?([^\s"])'
        at = [m.start(1) for m in re.finditer(pattern, text[lo:hi]) if digit(m.group(1)) is not None]
        if not at:
            continue
        idx = max(i for i, s in enumerate(starts) if s <= lo + at[-1])
        weighted = probability_weighted(logprobs[idx])
        if weighted is not None:
            out[c] = weighted
    return out


def probability_weighted(alternatives: dict[str, float], *, logs: bool = True, min_mass: float = 0.5) -> float | None:
    """The mean of 1..5 weighted by each digit's probability (a token counts as the digit it is
    in NFKC, so "４" adds to 4); None when they hold < min_mass."""
    mass: dict[int, float] = {}
    for tok, v in alternatives.items():
        d = digit(tok)
        try:
            p = math.exp(v) if logs else float(v)
        except (OverflowError, TypeError, ValueError):
            continue
        if d is not None and math.isfinite(p) and p > 0:
            mass[d] = mass.get(d, 0.0) + p
    total = sum(mass.values())
    if total < min_mass or total <= 0:
        return None
    return min(5.0, max(1.0, sum(k * p for k, p in mass.items()) / total))
