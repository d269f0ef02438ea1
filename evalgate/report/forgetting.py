"""The report's forgetting section: per general-capability task and metric the base and the
candidate on the same documents, the paired interval of the change, lm-eval's own aggregate, and
the gate's check on it (its margin and minimum detectable effect)."""

from __future__ import annotations

from typing import Any


def forgetting_view(data: dict[str, Any] | None, gate: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    checks: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in (gate or {}).get("checks", []):
        target = str(c.get("target", ""))
        if target.startswith("forgetting:") and "/" in target:
            task, metric = target.split(":", 1)[1].split("/", 1)
            checks.setdefault((task, metric), []).append(c)
    prov = data.get("provenance") or {}
    tasks_prov = prov.get("tasks") or {}
    rows = []
    for task, metrics in (data.get("tasks") or {}).items():
        for metric, m in metrics.items():
            lm = m.get("lm_eval") or {}
            rows.append({
                "task": task, "metric": metric, "higher_is_better": m.get("higher_is_better", True), "binary": m.get("binary"),
                "base": m.get("base"), "candidate": m.get("candidate"), "delta": m.get("delta"),
                "delta_ci": m.get("delta_ci") or [None, None], "n": m.get("n"),
                "lm_base": lm.get("base"), "lm_candidate": lm.get("candidate"),
                "checks": checks.get((task, metric), []),
                "output_type": (tasks_prov.get(task) or {}).get("output_type"),
            })  # fmt: skip
    run = data.get("run") or {}
    bench = prov.get("benchmarks") or {}
    return {
        "rows": rows,
        "tasks": [
            {"task": t, "items": p.get("items"), "documents": p.get("documents"), "task_file": p.get("task_file"), "output_type": p.get("output_type")}
            for t, p in tasks_prov.items()
        ],
        "computed": run.get("computed") or {},
        "seconds": run.get("seconds") or {},
        "engine": run.get("engine") or {},
        "benchmarks": f"{bench.get('package')} {bench.get('version')}" if bench else None,
        "lm_eval": (prov.get("packages") or {}).get("lm_eval"),
    }
