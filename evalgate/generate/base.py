"""What every generation backend takes and returns."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Request:
    key: str
    """Content address of the answer: base model, adapter, prompt and generation config hashes."""
    prompt: str
    """The rendered prompt (chat template applied, generation prompt added)."""
    max_new_tokens: int
    stop: tuple[str, ...] = ()
    group: str = ""
    """Requests of one group (a task) tend to share a prompt prefix that backends may reuse."""


@dataclass(frozen=True)
class Generation:
    text: str
    tokens: int
    """Generated tokens, up to and including the one that ended the answer."""
    latency_s: float
    """Wall time of the batch or request that produced this answer, divided by its size."""
    finish_reason: str
    """`stop` (EOS or a stop string) or `length` (max_new_tokens reached)."""


@dataclass(frozen=True)
class ChatRequest:
    """Chat messages to reply to (a judge's rubric and the answer under review)."""

    key: str
    messages: tuple[tuple[str, str], ...]
    """(role, content) pairs, in order."""
    max_tokens: int
    top_logprobs: int = 0
    """How many alternatives' log-probabilities to return per reply token (0: none)."""


@dataclass(frozen=True)
class ChatReply:
    text: str
    model: str
    """The exact model id the server reports (a moving alias resolves to a dated id here)."""
    finish_reason: str
    logprobs: tuple[dict[str, float], ...] | None = None
    """Per reply token, the top alternatives' log-probabilities, when the server returns them."""
    input_tokens: int = 0
    output_tokens: int = 0
    tokens: tuple[str, ...] | None = None
    """The reply's tokens as text, alongside `logprobs` (to find the token that holds a score)."""


class Backend(Protocol):
    """A generation engine, built by a registered provider (evalgate.generate.registry), whose
    capabilities say which of these optional methods it offers:

    * `plan(requests) -> Plan` and `run_batch(ids, batch, *, base, candidate)` (``plan``): the
      batches the backend answers the requests in, each with a context hash (where a row's
      numbers depend on its batch), and both sides' answers to one batch; the evaluate stage
      caches such answers under their batch's context;
    * `chat(requests: Sequence[ChatRequest]) -> Iterator[list[tuple[int, ChatReply]]]` (``chat``);
    * `next_token_probs(prompts: Sequence[str], tokens: Sequence[str], *, adapter: bool)
      -> list[dict[str, float]]` (``next_token_probs``): after each prompt (which ends in a forced
      reply prefix such as `{"score": `), the probability of each of `tokens` as the next token."""

    name: str

    def identity(self) -> dict[str, Any]:
        """Everything besides the prompt that decides the answer (engine, dtype, quantisation).
        Part of the generation config hash, so a change never reuses stale cached answers."""
        ...

    def generate(self, requests: Sequence[Request], *, adapter: bool) -> Iterator[list[tuple[int, Generation]]]:
        """Answer `requests` with the base model (adapter=False) or the candidate; yield finished
        (index into requests, Generation) pairs chunk by chunk, so callers can cache as they go."""
        ...

    def close(self) -> None: ...


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """The text before the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
