"""Per-document results from lm-evaluation-harness's logged samples.

Every number here is lm-eval's own, taken from its logged samples: each metric's per-document
value is the task's own aggregation applied to that one document (for `mean` metrics such as
acc the value itself; for perplexities the document's perplexity). evalgate adds one signal,
derived from the same logged log-likelihoods: the gold answer's log-likelihood per UTF-8 byte
(`gold_ll_per_byte`, multiple_choice and loglikelihood tasks), a continuous per-document score
that moves with far fewer documents than 0/1 accuracy.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

GOLD_LL = "gold_ll_per_byte"
RESPONSE_CHARS = 400
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-.]")


@dataclass
class ItemResult:
    doc_id: int
    target: str | None
    response: str | None
    scores: dict[str, float | None] = field(default_factory=dict)


@dataclass
class TaskResult:
    """One task's results for one model: per document and lm-eval's aggregates."""

    task: str
    output_type: str
    higher_is_better: dict[str, bool]
    aggregate: dict[str, float | None]
    items: dict[int, ItemResult]
    no_item_values: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["items"] = [asdict(i) for i in self.items.values()]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskResult:
        items = {int(i["doc_id"]): ItemResult(**i) for i in data["items"]}
        return cls(
            task=data["task"],
            output_type=data["output_type"],
            higher_is_better=data["higher_is_better"],
            aggregate=data["aggregate"],
            items=items,
            no_item_values=data.get("no_item_values", []),
        )


def metric_name(metric: str, filter_name: str) -> str:
    """`acc` for lm-eval's default filter, `exact_match.strict-match` for a named one."""
    if filter_name in ("none", "", None):
        return metric
    return f"{metric}.{_UNSAFE.sub('_', filter_name)}"


def _number(x: Any) -> float | None:
    if isinstance(x, bool):
        return float(x)
    if isinstance(x, int | float):
        v = float(x)
        return v if math.isfinite(v) else None
    return None


def _aggregations(config: dict[str, Any]) -> dict[str, Any]:
    """metric -> the aggregation function the task uses for it (lm-eval's registry)."""
    from lm_eval.api.registry import get_aggregation, get_metric_aggregation

    out: dict[str, Any] = {}
    for entry in config.get("metric_list") or []:
        name = entry.get("metric")
        if not isinstance(name, str):
            continue
        agg = entry.get("aggregation")
        fn = get_aggregation(agg) if isinstance(agg, str) else agg if callable(agg) else None
        if fn is None:
            try:
                fn = get_metric_aggregation(name)
            except Exception:  # a metric without a registered aggregation: no per-item value
                fn = None
        out[name] = fn
    return out


def _per_item(value: Any, agg: Any) -> float | None:
    """The task's aggregation over this one document (a mean of one value is the value)."""
    direct = _number(value)
    if agg is None:
        return direct
    try:
        return _number(agg([value]))
    except Exception:  # an aggregation that needs more than one document (f1, mcc, bleu, ...)
        return None


def _choices(sample: dict[str, Any]) -> list[str]:
    return [a[1] for a in sample.get("arguments") or [] if isinstance(a, list | tuple) and len(a) > 1]


def _gold_index(sample: dict[str, Any], choices: list[str]) -> int | None:
    target = sample.get("target")
    if isinstance(target, list):
        target = target[0] if target else None
    if isinstance(target, bool):
        return None
    if isinstance(target, int):
        return target if 0 <= target < len(choices) else None
    if isinstance(target, str):
        if target.strip().isdigit() and int(target) < len(choices):
            return int(target)
        stripped = [c.strip() for c in choices]
        if target.strip() in stripped:
            return stripped.index(target.strip())
    return None


def _ll(resp: Any) -> float | None:
    if isinstance(resp, list | tuple):
        resp = resp[0] if resp else None
    return _number(resp)


def gold_ll_per_byte(sample: dict[str, Any], output_type: str) -> float | None:
    """log P(gold continuation | context) / its UTF-8 bytes, from the logged log-likelihoods."""
    resps = sample.get("filtered_resps") or []
    if output_type == "multiple_choice":
        choices = _choices(sample)
        gold = _gold_index(sample, choices)
        if gold is None or gold >= len(resps):
            return None
        ll, text = _ll(resps[gold]), choices[gold]
    elif output_type == "loglikelihood":
        choices = _choices(sample)
        if not choices or not resps:
            return None
        ll, text = _ll(resps[0]), choices[0]
    else:
        return None
    nbytes = len(text.encode("utf-8"))
    return None if ll is None or nbytes == 0 else ll / nbytes


def _response(sample: dict[str, Any], output_type: str) -> str | None:
    resps = sample.get("filtered_resps")
    if output_type == "multiple_choice":
        lls = [_ll(r) for r in resps or []]
        choices = _choices(sample)
        if not lls or any(x is None for x in lls) or len(choices) != len(lls):
            return None
        return choices[max(range(len(lls)), key=lambda i: lls[i])].strip()[:RESPONSE_CHARS]
    if output_type == "generate_until":
        r = resps[0] if isinstance(resps, list) and resps else resps
        return str(r)[:RESPONSE_CHARS] if r is not None else None
    return None


def _target(sample: dict[str, Any], output_type: str) -> str | None:
    if output_type == "multiple_choice":
        choices = _choices(sample)
        gold = _gold_index(sample, choices)
        return choices[gold].strip()[:RESPONSE_CHARS] if gold is not None else None
    if output_type == "loglikelihood_rolling":
        return None  # the document itself
    target = sample.get("target")
    return None if target is None else str(target)[:RESPONSE_CHARS]


def task_result(task: str, samples: list[dict[str, Any]], config: dict[str, Any], higher: dict[str, Any], results: dict[str, Any]) -> TaskResult:
    """Per-document scores of one task from lm-eval's logged samples, config and results."""
    output_type = str(config.get("output_type"))
    aggs = _aggregations(config)
    items: dict[int, ItemResult] = {}
    higher_is_better: dict[str, bool] = {}
    no_values: set[str] = set()
    for s in samples:
        doc_id = int(s["doc_id"])
        filt = s.get("filter", "none")
        item = items.get(doc_id)
        if item is None:
            item = items[doc_id] = ItemResult(doc_id, _target(s, output_type), _response(s, output_type))
        for m in s.get("metrics") or []:
            if m not in s:
                continue
            name = metric_name(m, filt)
            value = _per_item(s[m], aggs.get(m))
            if value is None:
                no_values.add(name)
            item.scores[name] = value
            higher_is_better[name] = bool(higher.get(m, True))
        if output_type in ("multiple_choice", "loglikelihood") and filt in ("none", "", None):
            item.scores[GOLD_LL] = gold_ll_per_byte(s, output_type)
            higher_is_better[GOLD_LL] = True
    aggregate: dict[str, float | None] = {}
    for key, value in results.items():
        if "," not in key or "_stderr" in key:
            continue
        m, filt = key.split(",", 1)
        aggregate[metric_name(m, filt)] = _number(value)
    # A metric with no per-document value on any document cannot be paired: reported, not gated.
    empty = {n for n in no_values if all(i.scores.get(n) is None for i in items.values())}
    for i in items.values():
        for n in empty:
            i.scores.pop(n, None)
    return TaskResult(task, output_type, higher_is_better, aggregate, items, sorted(empty))
