"""The `evaluate` stage: base and candidate answer every held-out item, then both are scored.

One load of the base model serves both sides (the adapter is toggled off for the base). Every
answer goes through the content-addressed prediction cache, so the base model's answers are
reused across data commits and a killed run resumes with only what is missing. The in-process
model's numbers depend on the batch a prompt is computed in, so its answers are cached under
their batch's context too (`evalgate.generate.hf`): a warm cache gives the answers a cold run
computes, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgate import __version__
from evalgate.adapter import adapter_sha256, missing_files, trained_on
from evalgate.artifacts import (
    package_versions,
    sha256_bytes,
    sha256_file,
    sha256_json,
    sha256_text,
)
from evalgate.config import EvaluateParams, Params
from evalgate.contract import (
    PATHS,
    SCHEMA_VERSION,
    PredictionRow,
    ScoreRow,
    StageMetrics,
    read_train_meta,
    write_artifact,
    write_rows,
)
from evalgate.errors import InputError
from evalgate.generate import Backend, Generation, PredictionCache, Request
from evalgate.generate.cache import answer_cache_path
from evalgate.git import git_commit
from evalgate.hardware import machine_part
from evalgate.models import (
    BaseModelRef,
    base_model_sha256,
    load_tokenizer,
    resolve_base,
    tokenizer_sha256,
)
from evalgate.prompts import render_prompt
from evalgate.scoring import ScoredTask, aggregate, score_task
from evalgate.tasks import (
    GoldenItem,
    Task,
    build_scorers,
    golden_sha256,
    load_golden,
    load_tasks,
    subset,
)
from evalgate.ui import info, progress, warn

SIDES = ("base", "candidate")
PACKAGES = ["torch", "transformers", "peft", "rouge-score", "bert-score", "jsonschema", "openai"]


@dataclass
class TaskRun:
    task: Task
    items: list[GoldenItem]
    prompts: list[str]
    generation_sha256: str


def check_adapter(root: Path, ev: EvaluateParams, ref: BaseModelRef, base_hash: str) -> tuple[Path, str]:
    adapter_dir = root / ev.adapter
    missing = missing_files(adapter_dir)
    if missing:
        raise InputError(
            f"evaluate.adapter: {adapter_dir} has no {', '.join(missing)}; run `evalgate train` (or `dvc repro`) first"
        )
    base = trained_on(adapter_dir)
    if base not in (ref.spec, None):
        raise InputError(
            f"evaluate.adapter: {adapter_dir} was trained on '{base}', but model.base is '{ref.spec}'; "
            "retrain or point model.base at the adapter's base"
        )
    meta_path = root / PATHS["train.meta"]
    meta = read_train_meta(meta_path)
    if meta is not None and meta.adapter_dir == ev.adapter and meta.base_model.get("sha256") not in (None, base_hash):
        raise InputError(
            f"{meta_path}: the adapter was trained on base weights with a different sha256 than "
            f"{ref.spec} has now; retrain with `dvc repro`"
        )
    return adapter_dir, adapter_sha256(adapter_dir)


def make_backend(params: Params, ref: BaseModelRef, tokenizer: Any, adapter_dir: Path, base_sha: str = "") -> Backend:
    """The backend `evaluate.backend` names (evalgate.generate.registry)."""
    import evalgate.generate.providers  # noqa: F401  (the built-in providers, which the name may pick)
    from evalgate.generate.registry import ProviderContext
    from evalgate.generate.registry import make_backend as make

    ctx = ProviderContext(params, ref=ref, tokenizer=tokenizer, adapter_dir=adapter_dir, base_sha=base_sha)
    return make(params.evaluate.backend, ctx, needs={"complete"})


def request_key(model_sha: str, adapter_sha: str | None, prompt_sha: str, generation_sha: str) -> str:
    return sha256_json({"model": model_sha, "adapter": adapter_sha, "prompt": prompt_sha, "generation": generation_sha})


def batch_key(request_key: str, context: str) -> str:
    """An answer's cache key when the backend's numbers depend on the batch it ran in."""
    return sha256_json({"request": request_key, "batch": context})


def predict_planned(backend: Any, cache: PredictionCache, requests: dict[str, list[Request]]) -> tuple[dict[str, list[Generation]], dict[str, int]]:
    """Both sides' answers from a backend that plans its own batches (`plan`, `run_batch`):
    each answer is cached under its request key and its batch's context, so a cached answer is
    used only where this run would compute the same numbers; a batch with an answer missing on
    a side is run for that side (the candidate reusing the base's lower-layer states). Returns
    the answers per side in request order and how many each side generated."""
    plan = backend.plan(requests["base"])
    keys = {side: [""] * len(requests["base"]) for side in SIDES}
    for batch in plan.batches:
        for i in batch.rows:
            for side in SIDES:
                keys[side][i] = batch_key(requests[side][i].key, batch.context)
    for side in SIDES:
        keys[side] = [keys[side][i] for i in plan.same]
    found = cache.get_many(keys["base"] + keys["candidate"])
    todo = []
    for batch in plan.batches:
        need = {side: any(keys[side][i] not in found for i in batch.rows) for side in SIDES}
        if any(need.values()):
            todo.append((batch, need))
    generated = {side: sum(len(b.rows) for b, need in todo if need[side]) for side in SIDES}
    total = sum(generated.values())
    if total:
        cached = 2 * len(set(plan.same)) - total
        with progress(f"base + candidate: generating {total} answers ({cached} cached)", total=total) as advance:
            for batch, need in todo:
                answers = backend.run_batch(plan.ids, batch, base=need["base"], candidate=need["candidate"])
                fresh = [
                    (keys[side][i], g)
                    for side, gens in zip(SIDES, answers, strict=True)
                    if gens is not None
                    for i, g in zip(batch.rows, gens, strict=True)
                ]
                cache.put_many(fresh)
                found.update(fresh)
                advance(len(fresh))
    return {side: [found[k] for k in keys[side]] for side in SIDES}, generated


def predict(
    backend: Backend,
    cache: PredictionCache,
    requests: list[Request],
    *,
    adapter: bool,
    label: str,
) -> tuple[list[Generation], int]:
    """Answers for `requests` in order: cached ones looked up, the rest generated and cached
    batch by batch. Returns the answers and how many were generated."""
    found = cache.get_many([r.key for r in requests])
    missing = [r for r in requests if r.key not in found]
    # Identical prompts (e.g. a repeated golden item) are generated once.
    todo = list({r.key: r for r in missing}.values())
    if todo:
        with progress(f"{label}: generating {len(todo)} answers ({len(requests) - len(missing)} cached)", total=len(todo)) as advance:
            for chunk in backend.generate(todo, adapter=adapter):
                batch = [(todo[i].key, g) for i, g in chunk]
                cache.put_many(batch)
                found.update(batch)
                advance(len(chunk))
    return [found[r.key] for r in requests], len(todo)


def prediction_rows(run: TaskRun, gens: list[Generation]) -> list[dict[str, Any]]:
    return [
        {
            "task": run.task.name,
            "id": item.id,
            "prompt_sha256": sha256_text(prompt),
            "output": g.text,
            "tokens": g.tokens,
            "latency_s": g.latency_s,
            "finish_reason": g.finish_reason,
            "generation_config_sha256": run.generation_sha256,
        }
        for item, prompt, g in zip(run.items, run.prompts, gens, strict=True)
    ]


def run_evaluate(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    ev = params.evaluate
    tasks = load_tasks(root / params.tasks_dir)
    if not tasks:
        raise InputError(f"tasks_dir: {root / params.tasks_dir} has no *.yaml task files")
    scorers = {t.name: build_scorers(t) for t in tasks}
    ref = resolve_base(params.model.base, params.model.revision)
    tokenizer = load_tokenizer(ref)
    base_hash = base_model_sha256(ref)
    adapter_dir, adapter_hash = check_adapter(root, ev, ref, base_hash)
    backend = make_backend(params, ref, tokenizer, adapter_dir, base_hash)
    model_sha = base_hash if ev.backend == "hf" else sha256_json({"served": ev.server.model if ev.server else None})

    # Answers are cached per machine class too (bf16 answers differ between CPU classes), while
    # the generation settings' hash recorded in the provenance reads the same everywhere.
    settings, machine = machine_part(backend.identity())
    machine_sha = sha256_json(machine)
    runs: list[TaskRun] = []
    for task in tasks:
        items = subset(load_golden(task), ev.max_items_per_task)
        prompts = [render_prompt(tokenizer, it.messages) for it in items]
        gen = task.spec.generation
        generation_sha = sha256_json(
            {"max_new_tokens": gen.max_new_tokens, "stop": gen.stop, "decoding": "greedy", "engine": settings}
        )
        runs.append(TaskRun(task, items, prompts, generation_sha))

    cache = PredictionCache(answer_cache_path(ev))
    outputs: dict[str, dict[str, list[Generation]]] = {side: {} for side in SIDES}
    generated = {side: 0 for side in SIDES}
    requests: dict[str, list[Request]] = {}
    for side in SIDES:
        adapter = side == "candidate"
        requests[side] = [
            Request(
                key=request_key(model_sha, adapter_hash if adapter else None, sha256_text(p), sha256_json([run.generation_sha256, machine_sha])),
                prompt=p,
                max_new_tokens=run.task.spec.generation.max_new_tokens,
                stop=tuple(run.task.spec.generation.stop),
                group=run.task.name,
            )
            for run in runs
            for p in run.prompts
        ]
    try:
        if hasattr(backend, "plan"):
            answered, generated = predict_planned(backend, cache, requests)
        else:
            answered = {}
            for side in SIDES:
                answered[side], generated[side] = predict(backend, cache, requests[side], adapter=side == "candidate", label=side)
        for side in SIDES:
            answers = answered[side]
            start = 0
            for run in runs:
                outputs[side][run.task.name] = answers[start : start + len(run.items)]
                start += len(run.items)
    finally:
        cache.close()
        backend.close()

    scored: list[ScoredTask] = []
    for run in runs:
        scored.append(
            score_task(run.task, scorers[run.task.name], run.items, {s: outputs[s][run.task.name] for s in SIDES})
        )

    runs_dir = root / ev.runs_dir
    for side in SIDES:
        rows = [r for run in runs for r in prediction_rows(run, outputs[side][run.task.name])]
        write_rows(runs_dir / side / "predictions.jsonl", rows, PredictionRow)
    scores_bytes = write_rows(runs_dir / "scores.jsonl", (row for st in scored for row in st.rows), ScoreRow)

    provenance = {
        "base_model": {"spec": ref.spec, "sha256": base_hash, "tokenizer_sha256": tokenizer_sha256(ref)},
        "adapter": {"dir": ev.adapter, "sha256": adapter_hash},
        "backend": backend.identity(),
        "dataset_sha256": _dataset_sha(root),
        "tasks": {
            run.task.name: {
                "version": run.task.spec.version,
                "task_file_sha256": sha256_file(run.task.source),
                "golden_set": run.task.spec.golden_set,
                "golden_set_sha256": golden_sha256(run.task),
                "items": len(run.items),
                "generation_config_sha256": run.generation_sha256,
                "scorers_sha256": sha256_json([s.model_dump(mode="json") for s in run.task.spec.scorers]),
            }
            for run in runs
        },
        "scores_file": str(Path(ev.runs_dir) / "scores.jsonl"),
        "scores_sha256": sha256_bytes(scores_bytes),
        "git_commit": git_commit(root),
        "evalgate_version": __version__,
        "packages": package_versions(PACKAGES),
    }
    generation = generation_stats(runs, outputs)
    metrics = {"schema_version": SCHEMA_VERSION, "tasks": aggregate(scored), "generation": generation, "provenance": provenance}
    write_artifact(root / ev.metrics, StageMetrics, metrics)
    info(
        f"answers generated: base {generated['base']}, candidate {generated['candidate']} "
        f"(the rest came from the cache)"
    )
    return metrics


def generation_stats(runs: list[TaskRun], outputs: dict[str, dict[str, list[Generation]]]) -> dict[str, Any]:
    """Per task and side: how many answers were cut at max_new_tokens (a model that rambles
    or loops shows here before it shows in the scores) and the mean answer length in tokens."""
    out: dict[str, Any] = {}
    for run in runs:
        limit = run.task.spec.generation.max_new_tokens
        per_side = {}
        for side in SIDES:
            gens = outputs[side][run.task.name]
            cut = sum(g.finish_reason == "length" for g in gens)
            per_side[side] = {
                "answers": len(gens),
                "truncated": cut,
                "truncated_share": round(cut / len(gens), 6) if gens else None,
                "mean_new_tokens": round(sum(g.tokens for g in gens) / len(gens), 2) if gens else None,
            }
        out[run.task.name] = {"max_new_tokens": limit, **per_side}
    return out


def warn_truncation(generation: dict[str, Any], share: float) -> None:
    for task, g in generation.items():
        for side in SIDES:
            s = g[side]
            if s["truncated_share"] is not None and s["truncated_share"] > share:
                warn(
                    f"{task}: {s['truncated']} of {s['answers']} {side} answers ({s['truncated_share']:.0%}) were cut at "
                    f"max_new_tokens={g['max_new_tokens']} (above evaluate.warn_truncated_share={share:g}); "
                    "their scores judge unfinished answers"
                )


def _dataset_sha(root: Path) -> str | None:
    meta = read_train_meta(root / PATHS["train.meta"])
    return meta.dataset_sha256 if meta is not None else None
