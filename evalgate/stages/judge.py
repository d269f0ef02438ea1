"""The `judge` stage: rubric-driven judges grade base and candidate answers, and the gate reads
their paired per-item scores like any other metric.

Targets: `judge:<task>/<criterion>` (pointwise, the per-item 1-5 score, base vs candidate) and
`judge:<task>/win_rate` (pairwise, asked in both orders: +1 the candidate wins in both, -1 the
base wins in both, 0 a tie or orders that disagree). The judge's agreement with people's grades
on the calibration set is measured in the same run (its grades are cached like any other), so
the gate always reads a current figure and can hold a judge that has not earned it to advisory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgate import __version__
from evalgate.artifacts import package_versions, sha256_bytes, sha256_file, sha256_text
from evalgate.config import JudgeParams, Params, cache_dir
from evalgate.contract import (
    PATHS,
    SCHEMA_VERSION,
    JudgeRow,
    ScoreRow,
    StageMetrics,
    check_fresh,
    read_predictions,
    read_scored_stage,
    write_artifact,
    write_rows,
)
from evalgate.errors import ConfigError, InputError, ServiceError
from evalgate.git import git_commit
from evalgate.judging.cache import JudgeCache, judge_key
from evalgate.judging.engine import JudgeCall, Outcome, PermanentError, SpendCapReached
from evalgate.judging.parse import Parsed, geval_scores, parse_pairwise, parse_pointwise
from evalgate.judging.prompt import (
    PAIRWISE_FORMAT,
    TEMPLATE_SHA256,
    as_text,
    pairwise_messages,
    pointwise_messages,
    reply_format,
)
from evalgate.judging.rubric import Rubric, load_rubrics
from evalgate.scorers import Score
from evalgate.scoring import MetricScores, summarise, with_ci
from evalgate.tasks import GoldenItem, Task, load_golden, load_tasks, subset
from evalgate.ui import info, progress, warn

SIDES = ("base", "candidate")
ORDERS = ("base_first", "candidate_first")
_PINNED = re.compile(r"(\d{8}|\d{4}-\d{2}-\d{2})$")
_FAMILIES = ("smollm", "llama", "qwen", "gemma", "mistral", "phi", "gpt", "claude", "olmo", "deepseek")


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


def self_preference(judge_model: str, base_spec: str, judge_sha: str | None, base_sha: str | None) -> str | None:
    """Why the judge may favour the candidate's own family, or None."""
    if judge_sha and base_sha and judge_sha == base_sha:
        return "the judge is the base model itself (the candidate is that model plus an adapter)"
    jm, bm = judge_model.lower(), base_spec.lower()
    for fam in _FAMILIES:
        if fam in jm and fam in bm:
            return f"the judge ({judge_model}) and the base model ({base_spec}) are both of the {fam} family"
    return None


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


def _read_predictions(path: Path) -> dict[tuple[str, str], str]:
    return {key: row.output for key, row in read_predictions(path).items()}


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


def make_judge(params: Params) -> Any:
    import evalgate.judging.providers  # noqa: F401  (the built-in judges, which the name may pick)
    from evalgate.generate.registry import ProviderContext, get_provider

    prov = get_provider(params.judge.provider)
    if "judge" not in prov.capabilities:
        raise ConfigError(f"judge.provider {prov.name!r} is not a judge (it offers {', '.join(sorted(prov.capabilities))}); use local, anthropic or openai")
    return prov.factory(ProviderContext(params=params))


def resolve_model(judge: Any, j: JudgeParams) -> str:
    """The exact model id the judge's answers come from. A hosted alias (no date at its end)
    is resolved with one 1-token request, so a moved alias never reuses old grades."""
    if judge.provider == "local":
        return judge.model
    if _PINNED.search(judge.model):
        return judge.model
    from evalgate.judging.engine import TransientError

    try:
        reply = judge.complete([("user", "Reply with the digit 1.")], 1, 0)
    except (TransientError, PermanentError) as exc:
        raise ServiceError(f"judge: {judge.provider}: cannot resolve the model alias {judge.model!r}: {exc}") from None
    if reply.model != judge.model:
        info(f"judge model alias {judge.model} resolves to {reply.model} today; grades are cached under {reply.model}")
    return reply.model


def _runner(judge: Any, j: JudgeParams, price: Any, ledger: Any) -> Any:
    if judge.provider == "local":
        return judge
    from evalgate.judging.engine import HostedRunner, RetryPolicy

    return HostedRunner(
        judge, concurrency=j.concurrency, rpm=j.requests_per_minute,
        retry=RetryPolicy(max_retries=j.max_retries, base_s=j.backoff_s), price=price, ledger=ledger,
    )  # fmt: skip


@dataclass
class Executed:
    hits: int
    """Requests answered from the cache."""
    sent: int
    """Requests sent to the judge (the retried ones included)."""
    retried_transient: int
    """Cached transient failures (no reply, a truncated reply) asked again in this run."""


def execute(plan: Plan, cache: JudgeCache, runner: Any) -> Executed:
    """Fill each request's outcome from the cache or the judge; cache each reply as it arrives.

    A cached outcome left unscored by a transient failure is asked again, once: its new outcome
    is cached marked as retried, so no later run asks again. A request that got no reply after
    its retries is cached (unscored, transient) once the judge has answered any request of the
    run; a run in which it answered none is an outage: it stops, and records no failure."""
    from evalgate.judging.engine import TRANSIENT, GaveUp

    by_key: dict[str, list[Planned]] = {}
    for p in plan.requests:
        by_key.setdefault(p.call.key, []).append(p)
    cached = cache.get_many(list(by_key))
    retry: set[str] = set()
    for key, value in cached.items():
        outcome = Outcome.from_cache(value)
        if outcome.cause == TRANSIENT and not outcome.retried:
            retry.add(key)
            continue
        for p in by_key[key]:
            p.outcome, p.cache_hit = outcome, True
    todo = [ps[0].call for key, ps in by_key.items() if key not in cached or key in retry]
    held: list[tuple[str, Outcome]] = []  # requests given up before the judge answered any
    answered = False

    def keep(key: str, outcome: Outcome) -> None:
        cache.put(key, outcome.to_cache())
        for p in by_key[key]:
            p.outcome = outcome

    if todo:
        with progress("judging", len(todo)) as advance:
            for index, outcome in runner.run(todo):
                key = todo[index].key
                outcome.retried = key in retry
                no_reply = outcome.cause == TRANSIENT and outcome.requests == 0
                if no_reply and not answered and not outcome.retried:
                    held.append((key, outcome))
                else:
                    answered = answered or not no_reply
                    keep(key, outcome)
                if answered and held:
                    for k, o in held:
                        keep(k, o)
                    held.clear()
                advance(1)
    if held:
        raise GaveUp(f"the judge answered none of the {len(todo)} requests sent: {held[0][1].parsed.problem}")
    return Executed(len(cached) - len(retry), len(todo), len(retry))


# ----------------------------------------------------------------------------------- assembling


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _variance(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    m = sum(values) / len(values)
    return sum((v - m) ** 2 for v in values) / (len(values) - 1)


def _win(outcome: Outcome, order: str) -> float | None:
    """+1 the candidate, -1 the base, 0 a tie, in one order's reply; None unscored."""
    w = outcome.parsed.winner
    if w is None:
        return None
    if w == "tie":
        return 0.0
    first_is_candidate = order == "candidate_first"
    return 1.0 if (w == "A") == first_is_candidate else -1.0


def assemble(plan: Plan, items: list[Item], rubrics_of: dict[str, list[Rubric]], j: JudgeParams) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """The per-request rows, the gate's per-item score rows, the per-task metric summaries and
    the pairwise order statistics."""
    judge_rows = []
    index: dict[tuple[str, str, str, str, str | None, str | None], list[Planned]] = {}
    for p in plan.requests:
        if p.calibration:
            continue
        o = p.outcome
        assert o is not None
        row = {
            "task": p.task, "id": p.id, "rubric": p.rubric, "mode": p.mode, "side": p.side, "order": p.order,
            "sample": p.sample, "scores": o.parsed.scores, "winner": _winner_side(o, p.order) if p.mode == "pairwise" else None,
            "reasons": o.parsed.reasons, "raw": o.raw, "problem": o.parsed.problem, "cause": o.cause, "retried": o.retried,
            "provider": "", "model": o.model,
            "input_tokens": o.input_tokens, "output_tokens": o.output_tokens, "cost_usd": round(o.cost_usd, 8),
            "requests": o.requests, "repaired": o.repaired, "cache_hit": p.cache_hit,
        }  # fmt: skip
        judge_rows.append(row)
        index.setdefault((p.task, p.id, p.rubric, p.mode, p.side, p.order), []).append(p)

    score_rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    order_stats: dict[str, Any] = {}
    by_task: dict[str, list[Item]] = {}
    for it in items:
        by_task.setdefault(it.task.name, []).append(it)
    for task, task_items in by_task.items():
        metrics[task] = {}
        for rubric in rubrics_of[task]:
            if "pointwise" in j.modes:
                for c in rubric.criteria:
                    m = MetricScores(metric=c, scorer=f"judge:{rubric.name}", higher_is_better=True, binary=False, primary=False, value_range=(1.0, 5.0))
                    variances = []
                    for side in SIDES:
                        m.sides[side] = []
                        for it in task_items:
                            outs = [p.outcome for p in index.get((task, it.golden.id, rubric.name, "pointwise", side, None), [])]
                            vals = [o.parsed.scores.get(c) for o in outs if o is not None]
                            got = [v for v in vals if v is not None]
                            reason = next((o.parsed.reasons.get(c, "") for o in outs if o is not None and o.parsed.reasons.get(c)), "")
                            if not got:
                                problem = next((o.parsed.problem for o in outs if o is not None and o.parsed.problem), "unscored")
                                m.sides[side].append(Score(None, f"unscored: {problem}"))
                            else:
                                m.sides[side].append(Score(_mean(got), reason))
                                if (v := _variance(got)) is not None:
                                    variances.append(v)
                    summary = with_ci(summarise(m), m)
                    summary["rubric"] = rubric.name
                    if j.samples > 1:
                        summary["mean_item_variance"] = round(_mean(variances), 6) if variances else None
                    metrics[task][c] = summary
                    for n, it in enumerate(task_items):
                        score_rows.append({
                            "task": task, "id": it.golden.id, "metric": c, "scorer": f"judge:{rubric.name}",
                            "base": m.sides["base"][n].value, "candidate": m.sides["candidate"][n].value,
                            "base_explanation": m.sides["base"][n].explanation, "candidate_explanation": m.sides["candidate"][n].explanation,
                        })  # fmt: skip
            if "pairwise" in j.modes:
                m = MetricScores(metric="win_rate", scorer=f"judge:{rubric.name}", higher_is_better=True, binary=False, primary=False, value_range=(-1.0, 1.0))
                m.sides = {"base": [], "candidate": []}
                flips = consistent = both = 0
                for it in task_items:
                    per_sample = []
                    for sample in range(j.samples):
                        wins = {}
                        for order in ORDERS:
                            ps = [p for p in index.get((task, it.golden.id, rubric.name, "pairwise", None, order), []) if p.sample == sample]
                            wins[order] = _win(ps[0].outcome, order) if ps and ps[0].outcome is not None else None
                        if wins["base_first"] is None or wins["candidate_first"] is None:
                            continue
                        both += 1
                        if wins["base_first"] == wins["candidate_first"]:
                            consistent += 1
                            per_sample.append(wins["base_first"])
                        else:
                            if wins["base_first"] != 0 and wins["candidate_first"] != 0:
                                flips += 1
                            per_sample.append(0.0)
                    value = _mean(per_sample)
                    expl = "unscored: a reply in one order could not be read" if value is None else f"both orders: {value:+.2f}"
                    m.sides["base"].append(Score(0.0 if value is not None else None, ""))
                    m.sides["candidate"].append(Score(value, expl))
                summary = with_ci(summarise(m), m)
                summary["rubric"] = rubric.name
                metrics[task]["win_rate"] = summary
                order_stats[task] = {
                    "pairs": both,
                    "order_consistency": round(consistent / both, 4) if both else None,
                    "position_bias": round(flips / both, 4) if both else None,
                }
                for n, it in enumerate(task_items):
                    score_rows.append({
                        "task": task, "id": it.golden.id, "metric": "win_rate", "scorer": f"judge:{rubric.name}",
                        "base": m.sides["base"][n].value, "candidate": m.sides["candidate"][n].value,
                        "base_explanation": "", "candidate_explanation": m.sides["candidate"][n].explanation,
                    })  # fmt: skip
    return judge_rows, score_rows, metrics, order_stats


def _winner_side(o: Outcome, order: str | None) -> str | None:
    w = o.parsed.winner
    if w is None or order is None:
        return None
    if w == "tie":
        return "tie"
    first = "candidate" if order == "candidate_first" else "base"
    other = "base" if first == "candidate" else "candidate"
    return first if w == "A" else other


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


def grade(judge: Any, model: str, plan: Plan, j: JudgeParams) -> tuple[Executed, Any]:
    """Every request of `plan` graded, from the cache or the judge, priced into a ledger: (what
    was answered from the cache, sent and retried; the ledger). A spend cap, or a service that
    answers nothing in this run, stops it with one line, what was graded kept in the cache."""
    from evalgate.judging.engine import Ledger, Price

    price_cfg = j.prices.get(model) or j.prices.get(judge.model)
    price = Price(price_cfg.input_per_mtok, price_cfg.output_per_mtok) if price_cfg else None
    ledger = Ledger(j.max_cost_usd)
    cache = JudgeCache(judge_cache_path(j))
    try:
        done = execute(plan, cache, _runner(judge, j, price, ledger))
    except PermanentError as exc:
        graded = sum(p.outcome is not None for p in plan.requests)
        raise ServiceError(
            f"judge: {judge.provider} {model}: {exc}; {graded} of {len(plan.requests)} requests are graded and cached, "
            "rerun to grade the rest"
        ) from None
    except SpendCapReached as exc:
        graded = sum(p.outcome is not None for p in plan.requests)
        raise InputError(
            f"judge: stopped before the spend cap: {exc}. {graded} of {len(plan.requests)} requests are graded "
            "and cached; raise judge.max_cost_usd and rerun to grade the rest (nothing graded is lost)"
        ) from None
    finally:
        cache.close()
    return done, ledger


def judge_cache_path(j: JudgeParams) -> Path:
    return Path(j.cache) if j.cache else cache_dir() / "judge.sqlite"


def run_judge(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    j = params.judge
    tasks = load_tasks(root / params.tasks_dir)
    rubrics = load_rubrics(root / j.rubrics_dir)
    rubrics_of = attached_rubrics(tasks, rubrics, Path(j.rubrics_dir))
    if not rubrics_of:
        raise InputError(
            f"{params.tasks_dir}: no task attaches a rubric (`rubrics: [name]` in a task YAML, the rubric in "
            f"{j.rubrics_dir}/<name>.yaml); attach one or drop the judge stage from dvc.yaml"
        )
    task_by_name = {t.name: t for t in tasks}
    evaluated = read_scored_stage(root, "eval", params.evaluate.metrics, needed_by="the judge stage")
    check_fresh(root, evaluated)
    eprov = evaluated.typed.provenance
    runs_dir = root / params.evaluate.runs_dir
    answers = {side: _read_predictions(runs_dir / side / "predictions.jsonl") for side in SIDES}

    items: list[Item] = []
    golden: dict[tuple[str, str], Item] = {}
    for name in rubrics_of:
        task = task_by_name[name]
        if name not in eprov.tasks:
            raise InputError(f"{params.evaluate.metrics}: task {name} was not evaluated; rerun `evalgate evaluate`")
        gold = load_golden(task)
        for g in gold:
            golden[(name, g.id)] = Item(task, g, {})
        answered = [g for g in gold if all((name, g.id) in answers[s] for s in SIDES)]
        for g in subset(answered, j.max_items_per_task):
            items.append(Item(task, g, {s: answers[s][(name, g.id)] for s in SIDES}))
    calib_path = root / j.calibration
    calibration = load_calibration(calib_path, task_by_name, rubrics_of)
    calibration = [r for r in calibration if r.task in rubrics_of]

    judge = make_judge(params)
    try:
        model = resolve_model(judge, j)
        plan = plan_requests(Planner(j, judge.provider, model, getattr(judge, "reading", "")), items, rubrics_of, calibration, golden)
        info(f"judge: {judge.provider} {model}: {len(plan.requests)} requests ({len(items)} items, {len(calibration)} calibration answers)")
        done, ledger = grade(judge, model, plan, j)
        identity = judge.identity()
    finally:
        if hasattr(judge, "close"):
            judge.close()

    judge_rows, score_rows, task_metrics, order_stats = assemble(plan, items, rubrics_of, j)
    for row in judge_rows:
        row["provider"] = identity["provider"]
    agreement = calibration_agreement(plan, calibration, rubrics_of)

    out_rows = root / PATHS["judge.rows"]
    write_rows(out_rows, judge_rows, JudgeRow)
    scores_bytes = write_rows(root / PATHS["judge.scores"], score_rows, ScoreRow)
    base_model = eprov.base_model or {}
    preference = self_preference(model, str(base_model.get("spec", params.model.base)), identity.get("sha256"), base_model.get("sha256"))
    if preference:
        warn(f"judge: open to self-preference: {preference}")
    ledger_rows = [{"provider": p, "model": m, **{k: (round(v, 6) if k == "cost_usd" else int(v)) for k, v in r.items()}} for (p, m), r in ledger.rows.items()]
    from_cache_cost = sum(row["cost_usd"] for row in judge_rows if row["cache_hit"])
    inputs = {str(Path(j.rubrics_dir) / Path(r.source).name): sha256_file(r.source) for rs in rubrics_of.values() for r in rs}
    if calib_path.is_file():
        inputs[j.calibration] = sha256_file(calib_path)
    inputs[params.evaluate.metrics] = sha256_file(evaluated.path)
    provenance = {
        "scores_file": PATHS["judge.scores"],
        "scores_sha256": sha256_bytes(scores_bytes),
        "rows_file": PATHS["judge.rows"],
        "adapter": eprov.adapter.model_dump() if hasattr(eprov.adapter, "model_dump") else eprov.adapter,
        "base_model": eprov.base_model,
        "dataset_sha256": eprov.dataset_sha256,
        "tasks": {
            name: {
                "golden_set": task_by_name[name].spec.golden_set,
                "golden_set_sha256": eprov.tasks[name].golden_set_sha256,
                "items": sum(it.task.name == name for it in items),
            }
            for name in rubrics_of
        },
        "inputs": inputs,
        "judge": {
            **identity,
            "model": model,
            "configured_model": j.model,
            "modes": list(j.modes),
            "samples": j.samples,
            "rubrics": {r.name: r.sha256 for rs in rubrics_of.values() for r in rs},
            "template_sha256": TEMPLATE_SHA256,
            "calibration": {"path": j.calibration, "sha256": inputs.get(j.calibration)},
            "self_preference": preference,
        },
        "git_commit": git_commit(root),
        "evalgate_version": __version__,
        "packages": package_versions(["anthropic", "openai", "torch", "transformers"]),
    }
    metrics = {
        "schema_version": SCHEMA_VERSION,
        "tasks": task_metrics,
        "agreement": agreement,
        "order": order_stats,
        "requests": {
            "total": len(plan.requests), "from_cache": done.hits, "sent": done.sent, "retried_transient": done.retried_transient,
            "unscored": sum(1 for r in judge_rows if r["problem"]),
            "unscored_transient": sum(1 for r in judge_rows if r["problem"] and r["cause"] == "transient"),
            "unscored_unusable": sum(1 for r in judge_rows if r["problem"] and r["cause"] == "unusable"),
        },  # fmt: skip
        "cost": {"ledger": ledger_rows, "spent_usd": round(ledger.spent_usd, 6), "cached_usd": round(from_cache_cost, 6)},
        "provenance": provenance,
    }
    write_artifact(root / PATHS["judge.metrics"], StageMetrics, metrics)
    retried = f" ({done.retried_transient} asked again after a transient failure)" if done.retried_transient else ""
    info(f"judge: {done.sent} requests sent{retried}, {done.hits} answered from the cache; spent ${ledger.spent_usd:.4f}")
    for task, a in agreement.items():
        lo, hi = a["qwk_ci"]
        qwk = "n/a" if a["qwk"] is None else f"{a['qwk']:.2f}" + ("" if lo is None else f" (95% CI {lo:.2f} to {hi:.2f})")
        info(
            f"judge agreement with people on {task}: quadratic-weighted kappa {qwk} over {a['n']} grades of {a['answers']} answers, "
            f"{a['scored']} scored by the judge (the {a['unscored']} unscored count as the farthest score)"
        )
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
