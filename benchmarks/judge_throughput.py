"""Judge throughput: 200 items graded through the official `openai` client against the test
server (tests/judge_server.py) answering each request after 300 ms, with the default limits
(16 requests in flight) vs one call at a time, in one run; then the same 200 again through the
cache, with the server counting the calls it gets (it must get none).

    python benchmarks/judge_throughput.py [--items 200] [--latency 0.3]

Prints both wall times, the ratio (target: >= 8x) and the calls of the cached run (target: 0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.3)
    args = ap.parse_args()

    from evalgate.config import JudgeParams
    from evalgate.judging.cache import JudgeCache
    from evalgate.judging.engine import HostedRunner, Ledger, RetryPolicy
    from evalgate.judging.planning import Plan, Planned, Planner
    from evalgate.judging.providers.openai_api import OpenAIJudge
    from evalgate.judging.rubric import load_rubrics
    from evalgate.judging.running import execute
    from evalgate.tasks import load_golden, load_tasks
    from tests.judge_server import JudgeTestServer

    defaults = JudgeParams(provider="openai", model="judge-20260101")
    rubric = load_rubrics(ROOT / "tasks" / "rubrics")["triage_quality"]
    os.chdir(ROOT)
    task = next(t for t in load_tasks(ROOT / "tasks") if t.name == "ticket_triage")
    items = load_golden(task)[: args.items]
    os.environ["EVALGATE_BENCH_KEY"] = "bench-key"
    results = {}
    with JudgeTestServer(latency_s=args.latency) as server, tempfile.TemporaryDirectory() as tmp:
        judge = OpenAIJudge(defaults.model, "EVALGATE_BENCH_KEY", server.url + "/v1", defaults.timeout_s)
        planner = Planner(defaults, "openai", defaults.model)

        def plan() -> Plan:
            out = Plan()
            for it in items:
                text = "\n\n".join(m["content"] for m in it.messages if m["role"] == "user")
                answer = json.dumps(it.record["reference"])
                call = planner.pointwise(rubric, task, text, it.record["reference"], answer, 0)
                out.requests.append(Planned(call, task.name, it.id, rubric.name, "pointwise", side="candidate"))
            return out

        for label, concurrency, cache_name in (("one call at a time", 1, "serial"), ("default limits", defaults.concurrency, "concurrent")):
            server.reset()
            runner = HostedRunner(
                judge, concurrency=concurrency, rpm=defaults.requests_per_minute,
                retry=RetryPolicy(max_retries=defaults.max_retries, base_s=defaults.backoff_s), price=None, ledger=Ledger(None),
            )  # fmt: skip
            cache = JudgeCache(Path(tmp) / f"{cache_name}.sqlite")
            start = time.perf_counter()
            execute(plan(), cache, runner)
            results[label] = (time.perf_counter() - start, server.count(), server.max_in_flight)
            if label == "default limits":
                server.reset()
                again = time.perf_counter()
                execute(plan(), cache, runner)
                results["cached re-run"] = (time.perf_counter() - again, server.count(), server.max_in_flight)
            cache.close()
        judge.close()

    serial, concurrent, cached = results["one call at a time"], results["default limits"], results["cached re-run"]
    print(f"{len(items)} items, {args.latency * 1000:.0f} ms per call, openai SDK against the test server on 127.0.0.1")
    print(f"  one call at a time: {serial[0]:7.2f} s  ({serial[1]} calls)")
    print(f"  default limits    : {concurrent[0]:7.2f} s  ({concurrent[1]} calls, at most {concurrent[2]} in flight)")
    print(f"  speed-up          : {serial[0] / concurrent[0]:.1f}x (target >= 8x)")
    print(f"  cached re-run     : {cached[0]:7.2f} s  ({cached[1]} calls to the server; target 0)")
    ok = serial[0] / concurrent[0] >= 8 and cached[1] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
