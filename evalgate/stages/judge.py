"""The `judge` stage: rubric-driven judges grade base and candidate answers, and the gate reads
their paired per-item scores like any other metric.

Targets: `judge:<task>/<criterion>` (pointwise, the per-item 1-5 score, base vs candidate) and
`judge:<task>/win_rate` (pairwise, asked in both orders: +1 the candidate wins in both, -1 the
base wins in both, 0 a tie or orders that disagree). The judge's agreement with people's grades
on the calibration set is measured in the same run (its grades are cached like any other), so
the gate always reads a current figure and can hold a judge that has not earned it to advisory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgate import __version__
from evalgate.artifacts import package_versions, sha256_bytes, sha256_file
from evalgate.config import Params
from evalgate.contract import (
    PATHS,
    SCHEMA_VERSION,
    JudgeRow,
    ScoredStage,
    ScoreRow,
    StageMetrics,
    check_fresh,
    read_predictions,
    read_scored_stage,
    write_artifact,
    write_rows,
)
from evalgate.errors import InputError
from evalgate.git import git_commit
from evalgate.judging.aggregate import assemble
from evalgate.judging.calibration import CalibrationRow, calibration_agreement, load_calibration
from evalgate.judging.planning import SIDES, Item, Plan, Planner, attached_rubrics, plan_requests
from evalgate.judging.prompt import TEMPLATE_SHA256
from evalgate.judging.rubric import Rubric, load_rubrics
from evalgate.judging.running import Executed, grade, make_judge, resolve_model, self_preference
from evalgate.tasks import Task, load_golden, load_tasks, subset
from evalgate.ui import info, warn


def _read_predictions(path: Path) -> dict[tuple[str, str], str]:
    return {key: row.output for key, row in read_predictions(path).items()}


@dataclass
class Inputs:
    """What the stage grades: the tasks with rubrics, their items (answered by both sides, the
    configured subset), every golden item by (task, id), and the calibration answers."""

    task_by_name: dict[str, Task]
    rubrics_of: dict[str, list[Rubric]]
    evaluated: ScoredStage
    items: list[Item]
    golden: dict[tuple[str, str], Item]
    calibration: list[CalibrationRow]
    calib_path: Path


@dataclass
class Graded:
    plan: Plan
    done: Executed
    ledger: Any
    model: str
    identity: dict[str, Any]


def gather(params: Params, root: Path) -> Inputs:
    j = params.judge
    tasks = load_tasks(root / params.tasks_dir)
    rubrics_of = attached_rubrics(tasks, load_rubrics(root / j.rubrics_dir), Path(j.rubrics_dir))
    if not rubrics_of:
        raise InputError(
            f"{params.tasks_dir}: no task attaches a rubric (`rubrics: [name]` in a task YAML, the rubric in "
            f"{j.rubrics_dir}/<name>.yaml); attach one or drop the judge stage from dvc.yaml"
        )
    task_by_name = {t.name: t for t in tasks}
    evaluated = read_scored_stage(root, "eval", params.evaluate.metrics, needed_by="the judge stage")
    check_fresh(root, evaluated)
    evaluated_tasks = evaluated.typed.provenance.tasks
    runs_dir = root / params.evaluate.runs_dir
    answers = {side: _read_predictions(runs_dir / side / "predictions.jsonl") for side in SIDES}
    items: list[Item] = []
    golden: dict[tuple[str, str], Item] = {}
    for name in rubrics_of:
        task = task_by_name[name]
        if name not in evaluated_tasks:
            raise InputError(f"{params.evaluate.metrics}: task {name} was not evaluated; rerun `evalgate evaluate`")
        gold = load_golden(task)
        for g in gold:
            golden[(name, g.id)] = Item(task, g, {})
        answered = [g for g in gold if all((name, g.id) in answers[s] for s in SIDES)]
        for g in subset(answered, j.max_items_per_task):
            items.append(Item(task, g, {s: answers[s][(name, g.id)] for s in SIDES}))
    calib_path = root / j.calibration
    calibration = [r for r in load_calibration(calib_path, task_by_name, rubrics_of) if r.task in rubrics_of]
    return Inputs(task_by_name, rubrics_of, evaluated, items, golden, calibration, calib_path)


def grade_all(params: Params, items: list[Item], inputs: Inputs) -> Graded:
    """The configured judge on `items` and the calibration answers, cached as it goes."""
    j = params.judge
    judge = make_judge(params)
    try:
        model = resolve_model(judge, j)
        planner = Planner(j, judge.provider, model, getattr(judge, "reading", ""))
        plan = plan_requests(planner, items, inputs.rubrics_of, inputs.calibration, inputs.golden)
        info(f"judge: {judge.provider} {model}: {len(plan.requests)} requests ({len(items)} items, {len(inputs.calibration)} calibration answers)")
        done, ledger = grade(judge, model, plan, j)
        identity = judge.identity()
    finally:
        if hasattr(judge, "close"):
            judge.close()
    return Graded(plan, done, ledger, model, identity)


def provenance_of(params: Params, root: Path, inputs: Inputs, graded: Graded, scores_bytes: bytes, preference: str | None) -> dict[str, Any]:
    j = params.judge
    eprov = inputs.evaluated.typed.provenance
    rubrics = [r for rs in inputs.rubrics_of.values() for r in rs]
    files = {str(Path(j.rubrics_dir) / Path(r.source).name): sha256_file(r.source) for r in rubrics}
    if inputs.calib_path.is_file():
        files[j.calibration] = sha256_file(inputs.calib_path)
    files[params.evaluate.metrics] = sha256_file(inputs.evaluated.path)
    return {
        "scores_file": PATHS["judge.scores"],
        "scores_sha256": sha256_bytes(scores_bytes),
        "rows_file": PATHS["judge.rows"],
        "adapter": eprov.adapter.model_dump() if hasattr(eprov.adapter, "model_dump") else eprov.adapter,
        "base_model": eprov.base_model,
        "dataset_sha256": eprov.dataset_sha256,
        "tasks": {
            name: {
                "golden_set": inputs.task_by_name[name].spec.golden_set,
                "golden_set_sha256": eprov.tasks[name].golden_set_sha256,
                "items": sum(it.task.name == name for it in inputs.items),
            }
            for name in inputs.rubrics_of
        },
        "inputs": files,
        "judge": {
            **graded.identity,
            "model": graded.model,
            "configured_model": j.model,
            "modes": list(j.modes),
            "samples": j.samples,
            "rubrics": {r.name: r.sha256 for r in rubrics},
            "template_sha256": TEMPLATE_SHA256,
            "calibration": {"path": j.calibration, "sha256": files.get(j.calibration)},
            "self_preference": preference,
        },
        "git_commit": git_commit(root),
        "evalgate_version": __version__,
        "packages": package_versions(["anthropic", "openai", "torch", "transformers"]),
    }


def request_counts(graded: Graded, judge_rows: list[dict[str, Any]]) -> dict[str, int]:
    done = graded.done
    unscored = [r for r in judge_rows if r["problem"]]
    return {
        "total": len(graded.plan.requests), "from_cache": done.hits, "sent": done.sent, "retried_transient": done.retried_transient,
        "unscored": len(unscored),
        "unscored_transient": sum(1 for r in unscored if r["cause"] == "transient"),
        "unscored_unusable": sum(1 for r in unscored if r["cause"] == "unusable"),
    }  # fmt: skip


def say_what_was_done(graded: Graded, agreement: dict[str, Any]) -> None:
    done = graded.done
    retried = f" ({done.retried_transient} asked again after a transient failure)" if done.retried_transient else ""
    info(f"judge: {done.sent} requests sent{retried}, {done.hits} answered from the cache; spent ${graded.ledger.spent_usd:.4f}")
    for task, a in agreement.items():
        lo, hi = a["qwk_ci"]
        qwk = "n/a" if a["qwk"] is None else f"{a['qwk']:.2f}" + ("" if lo is None else f" (95% CI {lo:.2f} to {hi:.2f})")
        info(
            f"judge agreement with people on {task}: quadratic-weighted kappa {qwk} over {a['n']} grades of {a['answers']} answers, "
            f"{a['scored']} scored by the judge (the {a['unscored']} unscored count as the farthest score)"
        )


def run_judge(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    """Gather the answers, grade them, then write the rows, the gate's scores and the metrics."""
    inputs = gather(params, root)
    graded = grade_all(params, inputs.items, inputs)
    judge_rows, score_rows, task_metrics, order_stats = assemble(graded.plan, inputs.items, inputs.rubrics_of, params.judge)
    for row in judge_rows:
        row["provider"] = graded.identity["provider"]
    agreement = calibration_agreement(graded.plan, inputs.calibration, inputs.rubrics_of)
    write_rows(root / PATHS["judge.rows"], judge_rows, JudgeRow)
    scores_bytes = write_rows(root / PATHS["judge.scores"], score_rows, ScoreRow)
    base_model = inputs.evaluated.typed.provenance.base_model or {}
    preference = self_preference(graded.model, str(base_model.get("spec", params.model.base)), graded.identity.get("sha256"), base_model.get("sha256"))
    if preference:
        warn(f"judge: open to self-preference: {preference}")
    ledger = graded.ledger
    ledger_rows = [{"provider": p, "model": m, **{k: (round(v, 6) if k == "cost_usd" else int(v)) for k, v in r.items()}} for (p, m), r in ledger.rows.items()]
    from_cache_cost = sum(row["cost_usd"] for row in judge_rows if row["cache_hit"])
    metrics = {
        "schema_version": SCHEMA_VERSION,
        "tasks": task_metrics,
        "agreement": agreement,
        "order": order_stats,
        "requests": request_counts(graded, judge_rows),
        "cost": {"ledger": ledger_rows, "spent_usd": round(ledger.spent_usd, 6), "cached_usd": round(from_cache_cost, 6)},
        "provenance": provenance_of(params, root, inputs, graded, scores_bytes, preference),
    }
    write_artifact(root / PATHS["judge.metrics"], StageMetrics, metrics)
    say_what_was_done(graded, agreement)
    return metrics


def run_calibrate(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    """`evalgate judge calibrate`: the configured judge's agreement with people's grades on the
    calibration set (its grades cached like the stage's, so the stage reuses them)."""
    j = params.judge
    tasks = load_tasks(root / params.tasks_dir)
    rubrics_of = attached_rubrics(tasks, load_rubrics(root / j.rubrics_dir), Path(j.rubrics_dir))
    task_by_name = {t.name: t for t in tasks}
    calib_path = root / j.calibration
    if not calib_path.is_file():
        raise InputError(f"{calib_path}: missing; judge.calibration names the calibration set (docs/concepts/judge-calibration.md)")
    calibration = [r for r in load_calibration(calib_path, task_by_name, rubrics_of) if r.task in rubrics_of]
    golden = {(t, g.id): Item(task_by_name[t], g, {}) for t in rubrics_of for g in load_golden(task_by_name[t])}
    judge = make_judge(params)
    try:
        model = resolve_model(judge, j)
        plan = plan_requests(Planner(j, judge.provider, model, getattr(judge, "reading", "")), [], rubrics_of, calibration, golden)
        grade(judge, model, plan, j)
    finally:
        if hasattr(judge, "close"):
            judge.close()
    return {"model": model, "provider": judge.provider, "tasks": calibration_agreement(plan, calibration, rubrics_of)}
