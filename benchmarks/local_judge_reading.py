"""Local judge reading: each request after its rubric's instructions alone (the previous reading)
vs after a chain of anchors, the instructions and then the item's input and reference, which
run once for the answers that share them. The bundled model, the shipped rubrics, two answers
per golden item (its reference and a damaged copy), in one run on this machine.

    python benchmarks/local_judge_reading.py [--items 20]

Prints both wall times, the ratio, and the largest difference between the two readings' grades
(they are not bit-equal: the prompt is split at another point, which rounds differently in
bfloat16).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=20, help="golden items per task (2 answers each)")
    args = ap.parse_args()

    from evalgate.config import JudgeParams, load_params
    from evalgate.judging.planning import Planner, attached_rubrics
    from evalgate.judging.providers.local import LocalJudge
    from evalgate.judging.rubric import load_rubrics
    from evalgate.tasks import load_golden, load_tasks

    os.chdir(ROOT)
    params = load_params(ROOT / "params.yaml")
    j = JudgeParams(provider="local")
    judge = LocalJudge(params.model.base, device="cpu", compute_dtype="auto", token_budget=j.token_budget, max_batch_size=j.max_batch_size)
    planner = Planner(j, "local", judge.model)
    tasks = load_tasks(ROOT / "tasks")
    rubrics_of = attached_rubrics(tasks, load_rubrics(ROOT / "tasks" / "rubrics"), ROOT / "tasks" / "rubrics")
    calls = []
    for task in tasks:
        for it in load_golden(task)[: args.items]:
            text = "\n\n".join(m["content"] for m in it.messages if m["role"] == "user")
            reference = it.record.get(task.spec.reference_field)
            good = reference if isinstance(reference, str) else json.dumps(reference)
            for answer in (good, good[: len(good) // 2]):
                for rubric in rubrics_of[task.name]:
                    calls.append(planner.pointwise(rubric, task, text, reference, answer, 0))

    chained = judge._anchors
    results = {}
    judge.run(calls[:1])  # load the model and warm up outside the timings
    for label, anchors in (("instructions only (before)", lambda m: chained(m)[:1]), ("instructions, then the item", chained)):
        judge._anchors = anchors  # type: ignore[method-assign]
        judge.backend._anchored.clear()
        start = time.perf_counter()
        out = dict(judge.run(calls))
        results[label] = (time.perf_counter() - start, out)
    judge.close()

    (before_s, before), (after_s, after) = results.values()
    diff = max(
        abs(before[i].parsed.scores[c] - after[i].parsed.scores[c])
        for i in before
        for c in before[i].parsed.scores
        if before[i].parsed.scores[c] is not None and after[i].parsed.scores.get(c) is not None
    )
    print(f"{len(calls)} pointwise requests ({args.items} items per task, 2 answers each), {judge.model}")
    for label, (seconds, _) in results.items():
        print(f"  {label:28s}: {seconds:7.1f} s")
    print(f"  speed-up: {before_s / after_s:.2f}x; largest grade difference between the readings: {diff:.3f} (on 1-5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
