"""The calibration set (`golden_sets/judge_calibration.jsonl`: answers people graded) and the
judge's agreement with those grades, per task and criterion, measured in every run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate.errors import InputError
from evalgate.judging.rubric import Rubric
from evalgate.tasks import Task

if TYPE_CHECKING:
    from evalgate.judging.planning import Plan


@dataclass
class CalibrationRow:
    """One line of the calibration set. Each field but `line` is a key of the JSON object; other
    keys (`kind`, `reasons`) are for people and not read. `description` metadata feeds the docs."""

    line: int = field(metadata={"description": "Not a key: the line the row was read from, for error messages.", "key": False})
    id: str = field(metadata={"description": "Unique id of the graded answer (a repeated id is an error)."})
    task: str = field(metadata={"description": "The task whose rubrics grade it; must name a task under tasks_dir."})
    item: str = field(metadata={"description": "The golden-set item id whose input (and reference) the judge sees with the answer."})
    answer: str = field(metadata={"description": "The answer people graded, shown to the judge as the answer under review."})
    scores: dict[str, int] = field(
        metadata={"description": "Criterion -> people's grade, an integer 1-5; any subset of the task's rubric criteria."}
    )


def load_calibration(path: Path, tasks: dict[str, Task], rubrics_of: dict[str, list[Rubric]]) -> list[CalibrationRow]:
    """The calibration set: answers graded by people against the rubric, one JSON object per
    line (`id`, `task`, `item`: a golden-set id, `answer`, `scores`: criterion -> 1..5,
    `reasons`). Missing is not an error (every judge check is then advisory); malformed is."""
    if not path.is_file():
        return []
    from evalgate.data.records import Problem, iter_lines

    rows: list[CalibrationRow] = []
    seen: set[str] = set()
    for lineno, _, rec in iter_lines(path, str(path)):
        where = f"{path}:{lineno}"
        if isinstance(rec, Problem):
            raise InputError(f"{rec}; fix the line")
        if not isinstance(rec, dict):
            raise InputError(f"{where}: not a JSON object")
        for key, kind in (("id", str), ("task", str), ("item", str), ("answer", str), ("scores", dict)):
            if not isinstance(rec.get(key), kind):
                raise InputError(f"{where}: field {key}: missing or not a {kind.__name__}")
        if rec["id"] in seen:
            raise InputError(f"{where}: field id: {rec['id']!r} repeats an earlier line")
        seen.add(rec["id"])
        if rec["task"] not in tasks:
            raise InputError(f"{where}: field task: no task {rec['task']!r} (known: {', '.join(sorted(tasks))})")
        criteria = {c for r in rubrics_of.get(rec["task"], []) for c in r.criteria}
        scores = {}
        for c, v in rec["scores"].items():
            if c not in criteria:
                raise InputError(f"{where}: field scores.{c}: not a criterion of task {rec['task']}'s rubrics ({', '.join(sorted(criteria))})")
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5:
                raise InputError(f"{where}: field scores.{c}: must be an integer from 1 to 5, got {v!r}")
            scores[c] = v
        rows.append(CalibrationRow(lineno, rec["id"], rec["task"], rec["item"], rec["answer"], scores))
    return rows


# ------------------------------------------------------------------------------------ planning


def calibration_agreement(plan: Plan, calibration: list[CalibrationRow], rubrics_of: dict[str, list[Rubric]]) -> dict[str, Any]:
    """Per task, the judge's agreement with people over every (answer, criterion) they graded:
    a grade the judge left unscored counts as the most it could disagree (judging.agreement),
    and is counted in `unscored` against the coverage. `answers`: the answers people graded."""
    from evalgate.judging.agreement import agreement

    graded = {(p.task, p.id, p.rubric): p.outcome for p in plan.requests if p.calibration}
    out: dict[str, Any] = {}
    for task, rubrics in rubrics_of.items():
        rows = [r for r in calibration if r.task == task]
        human: list[int] = []
        judged: list[float | None] = []
        groups: list[str] = []
        per_crit: dict[str, tuple[list[int], list[float | None]]] = {}
        for r in rows:
            for rubric in rubrics:
                o = graded.get((task, r.id, rubric.name))
                for c, h in r.scores.items():
                    if c not in rubric.criteria:
                        continue
                    v = o.parsed.scores.get(c) if o is not None else None
                    human.append(h)
                    judged.append(v)
                    groups.append(r.id)
                    per_crit.setdefault(c, ([], []))
                    per_crit[c][0].append(h)
                    per_crit[c][1].append(v)
        res = agreement(human, judged, groups)
        res["answers"] = len(set(groups))
        res["unscored"] = res["n"] - res["scored"]
        res["criteria"] = {c: {k: v for k, v in agreement(h, jv, resamples=0).items() if k != "qwk_ci"} for c, (h, jv) in per_crit.items()}
        out[task] = res
    return out


# ------------------------------------------------------------------------------------ the stage
