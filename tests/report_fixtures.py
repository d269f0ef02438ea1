"""A small synthetic evaluated run (two tasks, golden sets, answers, scores, metrics) for the
report tests and the report-size benchmark. The numbers are computed from the per-item scores
the same way `evaluate` computes them, so the gate and the report see a consistent run."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from evalgate.artifacts import jsonl_bytes, sha256_bytes, sha256_file

HOSTILE = {
    "script": "<script>window.__pwned=1</script>",
    "img": '"><img src=x onerror="window.__pwned=2">',
    "close": "</script><script>window.__pwned=3</script>",
    "comment": "<!-- --><svg onload=window.__pwned=4>",
    "separator": "line\u2028separator\u2029end",
}


@dataclass
class Metric:
    name: str
    scorer: str
    binary: bool
    base: list[float | None]
    cand: list[float | None]
    higher_is_better: bool = True
    primary: bool = False


@dataclass
class TaskRun:
    name: str
    ids: list[str]
    records: list[dict[str, Any]]
    metrics: list[Metric]
    base_out: list[str]
    cand_out: list[str]
    spec: dict[str, Any] = field(default_factory=dict)


def _mean_se(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, None
    var = sum((v - m) ** 2 for v in values) / (len(values) - 1)
    return m, math.sqrt(var / len(values))


def _summary(m: Metric) -> dict[str, Any]:
    pairs = [(b, c) for b, c in zip(m.base, m.cand, strict=True) if b is not None and c is not None]
    b_mean, b_se = _mean_se([b for b, _ in pairs])
    c_mean, c_se = _mean_se([c for _, c in pairs])
    d_mean, d_se = _mean_se([c - b for b, c in pairs])
    return {
        "base": b_mean, "candidate": c_mean, "delta": d_mean, "delta_stderr": d_se,
        "base_stderr": b_se, "candidate_stderr": c_se, "n": len(pairs), "items": len(m.base),
        "base_coverage": 1.0, "candidate_coverage": sum(c is not None for c in m.cand) / len(m.cand),
        "higher_is_better": m.higher_is_better, "binary": m.binary, "primary": m.primary,
        "range": [0.0, 1.0],
    }


def make_tasks(n: int, *, regress: bool = True, hostile: bool = False, seed: int = 0, answer_chars: tuple[int, int] = (40, 120)) -> list[TaskRun]:
    """Task `qa` (binary exact_match, primary, and contains) and task `summ` (continuous rougeL,
    primary, and binary length_ok). With `regress`, qa's exact_match drops 20 points."""
    rng = np.random.default_rng(seed)
    words = ["alarm", "link", "node", "site", "power", "fiber", "outage", "cell", "backhaul", "router", "core", "restored", "degraded"]

    answers = np.random.default_rng(seed + 2)  # wrong answers: their number depends on `regress`

    def text(lo: int, hi: int, r: np.random.Generator = rng) -> str:
        target = int(r.integers(lo, hi + 1))
        out: list[str] = []
        while sum(len(w) + 1 for w in out) < target:
            out.append(str(r.choice(words)))
        return " ".join(out)[:target]

    qa_ids = [f"qa-{i:04d}" for i in range(n)]
    qa_base = np.zeros(n)
    qa_base[rng.permutation(n)[: round(0.8 * n)]] = 1.0  # exactly 80% right
    qa_cand = qa_base.copy()
    if regress:  # exactly 20 points lost, no item gained
        drop = np.random.default_rng(seed + 1).choice(np.flatnonzero(qa_base == 1), size=round(0.2 * n), replace=False)
        qa_cand[drop] = 0.0
    records = [{"id": i, "question": f"What failed at site {k}?", "reference": f"site {k}"} for k, i in enumerate(qa_ids)]
    base_out = [f"site {k}" if b else text(*answer_chars, answers) for k, b in enumerate(qa_base)]
    cand_out = [f"site {k}" if c else text(*answer_chars, answers) for k, c in enumerate(qa_cand)]
    contains_b = [1.0 if b else float(answers.random() < 0.3) for b in qa_base]
    contains_c = [1.0 if c else float(answers.random() < 0.3) for c in qa_cand]
    if hostile:
        # The item that regresses most carries every hostile string: in its id, prompt, reference,
        # answers and explanations, so it is rendered side by side and in the embedded JSON.
        k = int(np.flatnonzero((qa_base == 1) & (qa_cand == 0))[0]) if regress else 0
        qa_ids[k] = "qa-" + HOSTILE["close"]
        records[k] = {"id": qa_ids[k], "question": HOSTILE["script"] + " " + HOSTILE["separator"], "reference": HOSTILE["close"] + HOSTILE["img"]}
        base_out[k] = HOSTILE["comment"]
        cand_out[k] = HOSTILE["img"] + HOSTILE["script"] + HOSTILE["separator"]
    qa = TaskRun(
        "qa", qa_ids, records,
        [
            Metric("exact_match", "exact_match", True, qa_base.tolist(), qa_cand.tolist(), primary=True),
            Metric("contains", "contains", True, contains_b, contains_c),
        ],
        base_out, cand_out,
    )
    summ_ids = [f"summ-{i:04d}" for i in range(n)]
    rb = np.clip(rng.normal(0.4, 0.12, n), 0, 1)
    rc = np.clip(rb + rng.normal(0.01, 0.05, n), 0, 1)
    lb = (rng.random(n) < 0.7).astype(float)
    lc = np.where(rng.random(n) < 0.9, lb, 1 - lb)
    summ = TaskRun(
        "summ", summ_ids,
        [{"id": i, "text": text(300, 800), "reference": text(60, 200)} for i in summ_ids],
        [
            Metric("rougeL", "rouge", False, rb.round(6).tolist(), rc.round(6).tolist(), primary=True),
            Metric("length_ok", "length", True, lb.tolist(), lc.tolist()),
        ],
        [text(*answer_chars) for _ in summ_ids], [text(*answer_chars) for _ in summ_ids],
    )
    return [qa, summ]


def write_run(
    root: Path, tasks: list[TaskRun], *, explain: str | None = None, truncated: dict[tuple[str, str], int] | None = None
) -> dict[str, Any]:
    """Golden sets, task files, predictions, scores and metrics/eval.json as `evaluate` writes them.
    `truncated[(task, side)]`: how many of that side's answers ran out of tokens."""
    truncated = truncated or {}
    (root / "tasks").mkdir(exist_ok=True)
    specs = {
        "qa": {"name": "qa", "golden_set": "golden_sets/qa.jsonl", "user_template": "Question: {{ question }}",
               "scorers": [{"scorer": "exact_match"}, {"scorer": "contains"}]},
        "summ": {"name": "summ", "golden_set": "golden_sets/summ.jsonl", "system_prompt": "Summarise in one sentence.",
                 "user_template": "{{ text }}",
                 "scorers": [{"scorer": "rouge", "metric": "rougeL", "params": {"type": "rougeL"}},
                             {"scorer": "length", "metric": "length_ok", "params": {"max_words": 40}}]},
    }
    rows, preds = [], {"base": [], "candidate": []}
    prov_tasks = {}
    for t in tasks:
        (root / "tasks" / f"{t.name}.yaml").write_text(yaml.safe_dump(specs[t.name]))
        golden = root / "golden_sets" / f"{t.name}.jsonl"
        golden.parent.mkdir(exist_ok=True)
        golden.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in t.records), encoding="utf-8")
        prov_tasks[t.name] = {"version": 1, "task_file_sha256": sha256_file(root / "tasks" / f"{t.name}.yaml"),
                              "golden_set": f"golden_sets/{t.name}.jsonl", "golden_set_sha256": sha256_file(golden),
                              "items": len(t.ids), "generation_config_sha256": "g" * 64, "scorers_sha256": "s" * 64}
        for i, item in enumerate(t.ids):
            for m in t.metrics:
                b, c = m.base[i], m.cand[i]
                rows.append({
                    "task": t.name, "id": item, "metric": m.name, "scorer": m.scorer, "base": b, "candidate": c,
                    "base_explanation": explain or f"{m.name}={b}", "candidate_explanation": explain or f"{m.name}={c}",
                })
            for side, outs in (("base", t.base_out), ("candidate", t.cand_out)):
                cut = i < truncated.get((t.name, side), 0)
                preds[side].append({
                    "task": t.name, "id": item, "prompt_sha256": "p" * 64, "output": outs[i], "tokens": 64 if cut else 10,
                    "latency_s": 0.1, "finish_reason": "length" if cut else "stop", "generation_config_sha256": "g" * 64,
                })  # fmt: skip
    for side, p in preds.items():
        (root / "runs" / side).mkdir(parents=True, exist_ok=True)
        (root / "runs" / side / "predictions.jsonl").write_bytes(jsonl_bytes(p))
    scores = jsonl_bytes(rows)
    (root / "runs" / "scores.jsonl").write_bytes(scores)
    metrics = {
        "schema_version": 1,
        "tasks": {t.name: {m.name: _summary(m) for m in t.metrics} for t in tasks},
        "generation": {
            t.name: {
                "max_new_tokens": 64,
                **{
                    side: {
                        "answers": len(t.ids),
                        "truncated": truncated.get((t.name, side), 0),
                        "truncated_share": truncated.get((t.name, side), 0) / len(t.ids),
                        "mean_new_tokens": 10.0,
                    }
                    for side in ("base", "candidate")
                },
            }
            for t in tasks
        },
        "provenance": {
            "base_model": {"spec": "tiny", "sha256": "b" * 64, "tokenizer_sha256": "t" * 64},
            "adapter": {"dir": "models/adapter", "sha256": "a" * 64},
            "backend": {"backend": "hf"},
            "dataset_sha256": "d" * 64,
            "tasks": prov_tasks,
            "scores_file": "runs/scores.jsonl",
            "scores_sha256": sha256_bytes(scores),
            "git_commit": None,
            "evalgate_version": "0.1.0",
            "packages": {},
        },
    }
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics" / "eval.json").write_text(json.dumps(metrics, indent=1))
    return metrics


GATE_CHECKS = [
    {"target": "qa/exact_match", "kind": "max_drop_vs_base", "margin": 0.05},
    {"target": "summ/rougeL", "kind": "max_drop_vs_base", "margin": 0.1},
    {"target": "qa/exact_match", "kind": "max_drop_vs_promoted", "margin": 0.05},
]


def gate_params(checks: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"checks": checks or GATE_CHECKS, "resamples": 2000, **extra}
