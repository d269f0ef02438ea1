"""Planning the judge's requests: the items as the judge sees them, the rubrics attached to each
task, and one request per item, rubric, side (pointwise) or order (pairwise) and sample, each
with its cache key (`Planner`); the calibration answers are planned beside them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgate.artifacts import sha256_text
from evalgate.config import JudgeParams
from evalgate.errors import ConfigError, InputError
from evalgate.judging.cache import judge_key
from evalgate.judging.calibration import CalibrationRow
from evalgate.judging.engine import JudgeCall, Outcome
from evalgate.judging.parse import Parsed, geval_scores, parse_pairwise, parse_pointwise
from evalgate.judging.prompt import (
    PAIRWISE_FORMAT,
    TEMPLATE_SHA256,
    as_text,
    pairwise_messages,
    pointwise_messages,
    reply_format,
)
from evalgate.judging.rubric import Rubric
from evalgate.tasks import GoldenItem, Task

SIDES = ("base", "candidate")


ORDERS = ("base_first", "candidate_first")


@dataclass
class Item:
    """One golden item as the judge sees it."""

    task: Task
    golden: GoldenItem
    answers: dict[str, str]

    @property
    def input_text(self) -> str:
        return "\n\n".join(m["content"] for m in self.golden.messages if m["role"] == "user")

    @property
    def reference(self) -> Any:
        return self.golden.record.get(self.task.spec.reference_field)


@dataclass
class Planned:
    """A judge request and where its outcome goes."""

    call: JudgeCall
    task: str
    id: str
    rubric: str
    mode: str
    side: str | None = None
    order: str | None = None
    sample: int = 0
    calibration: bool = False
    outcome: Outcome | None = None
    cache_hit: bool = False


@dataclass
class Plan:
    requests: list[Planned] = field(default_factory=list)


def task_description(task: Task) -> str:
    return (task.spec.system_prompt or task.spec.description or task.name).strip()


def attached_rubrics(tasks: list[Task], rubrics: dict[str, Rubric], rubrics_dir: Path) -> dict[str, list[Rubric]]:
    """task -> its rubrics; an unknown rubric name or a criterion named twice on one task is an error."""
    from evalgate.names import lookup

    out: dict[str, list[Rubric]] = {}
    for task in tasks:
        found = []
        for name in task.spec.rubrics:
            try:
                found.append(lookup(rubrics, name, "rubric"))
            except KeyError as exc:
                raise ConfigError(f"{task.source}: rubrics: {exc.args[0]} (rubrics live in {rubrics_dir}/<name>.yaml)") from None
        seen: dict[str, str] = {}
        for r in found:
            for c in r.criteria:
                if c in seen:
                    raise ConfigError(
                        f"{task.source}: rubrics: criterion '{c}' is graded by both {seen[c]} and {r.name}; "
                        "a task's targets are judge:<task>/<criterion>, so rename one"
                    )
                seen[c] = r.name
        if found:
            out[task.name] = found
    return out


# --------------------------------------------------------------------------- the calibration set


class Planner:
    def __init__(self, j: JudgeParams, provider: str, model: str, reading: str = ""):
        self.j = j
        self.provider = provider
        self.model = model
        self.reading = reading
        """How an in-process judge computes a grade, where that changes its numbers (part of the key)."""

    def _key(self, rubric: Rubric, mode: str, item_input: str, reference: Any, answers: Sequence[str], order: str | None, sample: int) -> str:
        return judge_key(
            provider=self.provider, model=self.model, rubric=rubric.sha256, template=TEMPLATE_SHA256, mode=mode,
            input=sha256_text(item_input), reference=sha256_text(as_text(reference)) if rubric.spec.reference else None,
            answers=[sha256_text(a) for a in answers], order=order, sample=sample,
            max_tokens=self.j.max_tokens, temperature=self.j.temperature, top_logprobs=self.j.top_logprobs,
            **({"reading": self.reading} if self.reading else {}),
        )  # fmt: skip

    def pointwise(self, rubric: Rubric, task: Task, item_input: str, reference: Any, answer: str, sample: int, group: str = "") -> JudgeCall:
        criteria = rubric.criteria

        def rescore(reply: Any, parsed: Parsed) -> Parsed:
            weighted = geval_scores(reply.text, reply.logprobs, list(reply.tokens) if reply.tokens else None, criteria)
            for c, v in weighted.items():
                parsed.scores[c] = round(v, 4)
            return parsed

        return JudgeCall(
            key=self._key(rubric, "pointwise", item_input, reference, [answer], None, sample),
            messages=tuple(pointwise_messages(rubric, task_description(task), item_input, reference, answer)),
            max_tokens=self.j.max_tokens,
            parse=lambda text: parse_pointwise(text, criteria),
            reply_format=reply_format(rubric),
            top_logprobs=self.j.top_logprobs,
            rescore=rescore if self.j.top_logprobs else None,
            mode="pointwise",
            criteria=tuple(criteria),
            group=group,
        )

    def pairwise(self, rubric: Rubric, task: Task, item_input: str, reference: Any, a: str, b: str, order: str, sample: int, group: str = "") -> JudgeCall:
        return JudgeCall(
            key=self._key(rubric, "pairwise", item_input, reference, [a, b], order, sample),
            messages=tuple(pairwise_messages(rubric, task_description(task), item_input, reference, a, b)),
            max_tokens=self.j.max_tokens,
            parse=parse_pairwise,
            reply_format=PAIRWISE_FORMAT,
            mode="pairwise",
            group=group,
        )


def plan_requests(planner: Planner, items: list[Item], rubrics_of: dict[str, list[Rubric]], calibration: list[CalibrationRow], golden: dict[tuple[str, str], Item]) -> Plan:
    j = planner.j
    plan = Plan()
    for it in items:
        for rubric in rubrics_of[it.task.name]:
            for sample in range(j.samples):
                if "pointwise" in j.modes:
                    for side in SIDES:
                        call = planner.pointwise(rubric, it.task, it.input_text, it.reference, it.answers[side], sample, f"{it.task.name}/{it.golden.id}")
                        plan.requests.append(Planned(call, it.task.name, it.golden.id, rubric.name, "pointwise", side=side, sample=sample))
                if "pairwise" in j.modes:
                    for order in ORDERS:
                        a, b = (it.answers["base"], it.answers["candidate"]) if order == "base_first" else (it.answers["candidate"], it.answers["base"])
                        call = planner.pairwise(rubric, it.task, it.input_text, it.reference, a, b, order, sample, f"{it.task.name}/{it.golden.id}")
                        plan.requests.append(Planned(call, it.task.name, it.golden.id, rubric.name, "pairwise", order=order, sample=sample))
    for row in calibration:
        src = golden.get((row.task, row.item))
        if src is None:
            raise InputError(f"{j.calibration}:{row.line}: field item: {row.item!r} is not an id of task {row.task}'s golden set")
        for rubric in rubrics_of[row.task]:
            if not set(row.scores) & set(rubric.criteria):
                continue
            call = planner.pointwise(rubric, src.task, src.input_text, src.reference, row.answer, 0, f"{row.task}/{row.item}")
            plan.requests.append(Planned(call, row.task, row.id, rubric.name, "pointwise", calibration=True))
    return plan


# ------------------------------------------------------------------------------------- running
