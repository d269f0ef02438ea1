"""Sending judge requests to a hosted API: a concurrency limit, a requests-per-minute limit,
retries with exponential backoff and jitter that honour `Retry-After`, one repair request for
a reply cut off at the token limit (asked again with twice the limit) or an unreadable one,
and a spend cap the ledger can never pass.

An unscored outcome records its cause: `transient` (no reply after the retries, or a reply
still cut off at the doubled limit), which a later run asks again once, or `unusable` (the
judge replied and the reply could not be read, even after the repair), which no rerun changes.

The cap is kept by reservation: before a request is sent, its worst-case cost (every byte of
the prompt a token, every allowed output token used) is reserved; the actual cost replaces
the reservation when the reply arrives. A request whose reservation would take the ledger past
the cap is not sent, so the cap holds with any number of requests in flight.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from evalgate.generate.base import ChatReply
from evalgate.judging.parse import Parsed
from evalgate.judging.prompt import repair_message


class TransientError(Exception):
    """A failure worth retrying (429, 5xx, a timeout, a dropped connection)."""

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class PermanentError(Exception):
    """A failure no retry fixes (a bad key, an unknown model, a refused request)."""


class GaveUp(PermanentError):
    """Transient failures until the retries were used up (a timeout, 429, 5xx, a dropped
    connection, an unreadable response)."""


TRUNCATED = frozenset({"length", "max_tokens"})
"""The stop reasons of a reply cut off at its token limit: OpenAI's `finish_reason` and
Anthropic's `stop_reason`."""

TRANSIENT, UNUSABLE = "transient", "unusable"

OUTAGE_WAVE = 8
"""Requests given up, with no reply yet in the run, that stop it at once (the service is down)."""


class HostedJudge(Protocol):
    provider: str
    model: str

    def complete(self, messages: Sequence[tuple[str, str]], max_tokens: int, top_logprobs: int) -> ChatReply: ...


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_per_mtok + tokens_out * self.output_per_mtok) / 1e6


@dataclass(frozen=True)
class JudgeCall:
    key: str
    messages: tuple[tuple[str, str], ...]
    max_tokens: int
    parse: Callable[[str], Parsed]
    reply_format: str
    top_logprobs: int = 0
    rescore: Callable[[ChatReply, Parsed], Parsed] | None = None
    """Refines a parsed reply with the reply's log-probabilities (G-Eval), where there are any."""
    mode: str = "pointwise"
    criteria: tuple[str, ...] = ()
    group: str = ""
    """Calls that grade answers to one item share its input (a local judge encodes it once)."""


@dataclass
class Outcome:
    parsed: Parsed
    raw: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    requests: int = 0
    repaired: bool = False
    cause: str | None = None
    """Why it is unscored, where it is: TRANSIENT (asked again once by a later run) or UNUSABLE."""
    retried: bool = False
    """A later run asked again after a transient failure (so no run asks again)."""

    def __post_init__(self) -> None:
        if self.parsed.problem is None:
            self.cause = None
        elif self.cause not in (TRANSIENT, UNUSABLE):
            # The judge replied and the reply could not be read; also every cached row written
            # before causes were recorded: asking again would only repeat an answered request.
            self.cause = UNUSABLE

    def to_cache(self) -> dict[str, Any]:
        p = self.parsed
        return {
            "scores": p.scores, "reasons": p.reasons, "winner": p.winner, "problem": p.problem, "raw": self.raw,
            "model": self.model, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd, "requests": self.requests, "repaired": self.repaired,
            "cause": self.cause, "retried": self.retried,
        }  # fmt: skip

    @classmethod
    def from_cache(cls, d: dict[str, Any]) -> Outcome:
        parsed = Parsed(dict(d.get("scores") or {}), dict(d.get("reasons") or {}), d.get("winner"), d.get("problem"))
        return cls(
            parsed, d.get("raw", ""), d.get("model", ""), int(d.get("input_tokens", 0)), int(d.get("output_tokens", 0)),
            float(d.get("cost_usd", 0.0)), int(d.get("requests", 0)), bool(d.get("repaired", False)),
            d.get("cause"), bool(d.get("retried", False)),
        )  # fmt: skip


class SpendCapReached(Exception):
    pass


@dataclass
class Ledger:
    """Money spent and reserved, and tokens in and out, per provider and model."""

    cap_usd: float | None
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    rows: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, amount: float) -> None:
        with self._lock:
            if self.cap_usd is not None and self.spent_usd + self.reserved_usd + amount > self.cap_usd + 1e-12:
                raise SpendCapReached(
                    f"judge.max_cost_usd ({self.cap_usd:g}) would be exceeded: ${self.spent_usd:.4f} spent, "
                    f"${self.reserved_usd:.4f} in flight, the next request may cost up to ${amount:.4f}"
                )
            self.reserved_usd += amount

    def release(self, reserved: float) -> None:
        with self._lock:
            self.reserved_usd -= reserved

    def settle(self, reserved: float, provider: str, model: str, tokens_in: int, tokens_out: int, cost: float) -> None:
        with self._lock:
            self.reserved_usd -= reserved
            self.spent_usd += cost
            row = self.rows.setdefault((provider, model), {"requests": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0})
            row["requests"] += 1
            row["input_tokens"] += tokens_in
            row["output_tokens"] += tokens_out
            row["cost_usd"] += cost


class RateLimiter:
    """At most `rpm` request starts in any minute: starts are spaced 60/rpm seconds apart."""

    def __init__(self, rpm: int | None):
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


@dataclass
class RetryPolicy:
    max_retries: int = 6
    base_s: float = 1.0
    max_s: float = 60.0
    seed: int | None = None

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Full jitter on an exponential ceiling; a server's Retry-After is a floor."""
        backoff = rng.uniform(0.0, min(self.max_s, self.base_s * 2**attempt))
        if retry_after is not None:
            return max(retry_after, 0.0) + backoff * 0.1
        return backoff


def worst_case_tokens(messages: Sequence[tuple[str, str]]) -> int:
    """An upper bound on a prompt's tokens: every token is at least one byte (plus a margin per
    message for the chat template's own tokens)."""
    return sum(len(content.encode("utf-8")) + 16 for _, content in messages) + 16


class HostedRunner:
    def __init__(
        self,
        judge: HostedJudge,
        *,
        concurrency: int,
        rpm: int | None,
        retry: RetryPolicy,
        price: Price | None,
        ledger: Ledger,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.judge = judge
        self.concurrency = concurrency
        self.limiter = RateLimiter(rpm)
        self.retry = retry
        self.price = price
        self.ledger = ledger
        self.sleep = sleep
        self.retries = 0
        self.answered = 0
        self.gave_up = 0
        """Replies received and requests given up in this run: a wave of requests given up with
        no reply at all is an outage, and stops the run."""
        self._rng = random.Random(retry.seed)
        self._rng_lock = threading.Lock()
        self._answered_lock = threading.Lock()

    def _send(self, messages: Sequence[tuple[str, str]], max_tokens: int, top_logprobs: int) -> ChatReply:
        reserved = self.price.cost(worst_case_tokens(messages), max_tokens) if self.price else 0.0
        self.ledger.reserve(reserved)
        settled = False
        try:
            attempt = 0
            while True:
                self.limiter.acquire()
                try:
                    reply = self.judge.complete(messages, max_tokens, top_logprobs)
                except TransientError as exc:
                    if attempt >= self.retry.max_retries:
                        raise GaveUp(f"gave up after {attempt + 1} attempts: {exc}") from None
                    with self._rng_lock:
                        pause = self.retry.delay(attempt, exc.retry_after, self._rng)
                    attempt += 1
                    self.retries += 1
                    self.sleep(pause)
                    continue
                cost = self.price.cost(reply.input_tokens, reply.output_tokens) if self.price else 0.0
                self.ledger.settle(reserved, self.judge.provider, reply.model, reply.input_tokens, reply.output_tokens, cost)
                settled = True
                with self._answered_lock:
                    self.answered += 1
                return reply
        finally:
            if not settled:
                self.ledger.release(reserved)

    def _read(self, call: JudgeCall, reply: ChatReply, max_tokens: int) -> Parsed:
        """A reply cut off at its token limit is never read as a grade: what it holds may be a
        draft the judge had not finished."""
        if reply.finish_reason in TRUNCATED:
            return Parsed(scores={c: None for c in call.criteria}, problem=f"truncated at the token limit ({max_tokens})")
        parsed = call.parse(reply.text)
        if call.rescore is not None and parsed.problem is None:
            parsed = call.rescore(reply, parsed)
        return parsed

    def grade(self, call: JudgeCall) -> Outcome:
        """One judge request, and one repair request: a reply cut off at the token limit is
        asked again with twice the limit, an unreadable one is asked for the format."""
        try:
            reply = self._send(call.messages, call.max_tokens, call.top_logprobs)
        except GaveUp as exc:
            with self._answered_lock:
                self.gave_up += 1
                down = not self.answered and self.gave_up >= max(self.concurrency, OUTAGE_WAVE)
            if down:
                raise
            unscored = Parsed(scores={c: None for c in call.criteria}, problem=f"no reply: {exc}")
            return Outcome(unscored, "", self.judge.model, cause=TRANSIENT)
        parsed = self._read(call, reply, call.max_tokens)
        out = Outcome(parsed, reply.text, reply.model, reply.input_tokens, reply.output_tokens, self._cost(reply), 1)
        if parsed.problem is None:
            return out
        if reply.finish_reason in TRUNCATED:
            messages, max_tokens, top = call.messages, call.max_tokens * 2, call.top_logprobs
        else:
            messages = (*call.messages, ("assistant", reply.text or "(empty)"), repair_message(parsed.problem, call.reply_format))
            max_tokens, top = call.max_tokens, 0
        try:
            fixed = self._send(messages, max_tokens, top)
        except GaveUp as exc:
            parsed.problem = f"{parsed.problem}; the repair request got no reply: {exc}"
            out.cause = TRANSIENT
            return out
        again = self._read(call, fixed, max_tokens)
        raw = f"{reply.text}\n--- repair ---\n{fixed.text}"
        if again.problem is not None:  # keep what either reply said for the criteria it did read
            for c, v in parsed.scores.items():
                if again.scores.get(c) is None and v is not None:
                    again.scores[c] = v
                    if c in parsed.reasons:
                        again.reasons[c] = parsed.reasons[c]
        return Outcome(
            again, raw, fixed.model, out.input_tokens + fixed.input_tokens, out.output_tokens + fixed.output_tokens,
            out.cost_usd + self._cost(fixed), 2, repaired=True, cause=TRANSIENT if fixed.finish_reason in TRUNCATED else UNUSABLE,
        )  # fmt: skip

    def _cost(self, reply: ChatReply) -> float:
        return self.price.cost(reply.input_tokens, reply.output_tokens) if self.price else 0.0

    def run(self, calls: Sequence[JudgeCall]) -> Iterator[tuple[int, Outcome]]:
        """Grade `calls`, at most `concurrency` in flight, yielding (index, outcome) as each
        finishes, so the caller caches it at once. Stops cleanly (SpendCapReached) before the
        ledger would pass the cap, after the requests in flight have finished and been yielded."""
        if not calls:
            return
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="evalgate-judge")
        pending: dict[Future[Outcome], int] = {}
        nxt = 0
        stop: BaseException | None = None
        try:
            while nxt < len(calls) or pending:
                while stop is None and nxt < len(calls) and len(pending) < self.concurrency:
                    pending[pool.submit(self.grade, calls[nxt])] = nxt
                    nxt += 1
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=lambda f: pending[f]):
                    index = pending.pop(fut)
                    exc = fut.exception()
                    if exc is None:
                        yield index, fut.result()
                    elif stop is None:
                        stop = exc
                if stop is not None and nxt < len(calls):
                    nxt = len(calls)  # submit nothing more; let what is in flight finish
            if stop is not None:
                raise stop
        finally:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
