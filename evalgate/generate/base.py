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


class Backend(Protocol):
    """A generation engine. A backend may also offer
    `generate_pair(requests) -> Iterator[list[tuple[int, Generation, Generation]]]`: base and
    candidate answers to the same requests in one pass, (index, base, candidate) per item; the
    evaluate stage uses it for items where neither side is cached."""

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
