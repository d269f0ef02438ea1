"""Running a plan: the judge its provider builds, its model id (pinned, or resolved from the
reply), the hosted engine (concurrency, retries, spend cap) or the in-process judge, and the
cache: every outcome is stored as it arrives, so a killed run resumes where it stopped."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgate.config import JudgeParams, Params, cache_dir
from evalgate.errors import ConfigError, InputError, ServiceError
from evalgate.judging.cache import JudgeCache
from evalgate.judging.engine import Outcome, PermanentError, SpendCapReached
from evalgate.judging.planning import Plan, Planned
from evalgate.ui import info, progress

_PINNED = re.compile(r"(\d{8}|\d{4}-\d{2}-\d{2})$")


_FAMILIES = ("smollm", "llama", "qwen", "gemma", "mistral", "phi", "gpt", "claude", "olmo", "deepseek")


def self_preference(judge_model: str, base_spec: str, judge_sha: str | None, base_sha: str | None) -> str | None:
    """Why the judge may favour the candidate's own family, or None."""
    if judge_sha and base_sha and judge_sha == base_sha:
        return "the judge is the base model itself (the candidate is that model plus an adapter)"
    jm, bm = judge_model.lower(), base_spec.lower()
    for fam in _FAMILIES:
        if fam in jm and fam in bm:
            return f"the judge ({judge_model}) and the base model ({base_spec}) are both of the {fam} family"
    return None


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
