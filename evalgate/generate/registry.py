"""Generation providers, as a registry: each is one decorated factory that builds a `Backend`.

    @provider("hf", capabilities={"complete", "plan", "next_token_probs"})
    def hf(ctx: ProviderContext) -> Backend: ...

The evaluate stage names its provider in `evaluate.backend`; the judge stage will name its own
(`anthropic`, `openai`, `local`) through the same registry. `capabilities` says what a backend
offers beyond `generate` (completions of rendered prompts), so a stage can refuse a provider that
cannot do what it needs before any request is sent:

* ``complete``: `generate(requests, adapter=...)`, answers to rendered prompts;
* ``plan``: `plan(requests)` and `run_batch(ids, batch, base=, candidate=)`, both sides in
  batches the backend plans, the candidate reusing the base's lower-layer states;
* ``chat``: `chat(requests)`, replies to chat messages (`ChatRequest` -> `ChatReply`), with the
  top log-probabilities of each reply token where the server returns them;
* ``next_token_probs``: `next_token_probs(prompts, tokens, adapter=...)`, the probability of each
  of `tokens` as the next token after a prompt that ends in a forced reply prefix;
* ``judge``: a judge for the judge stage (evalgate.judging.providers): hosted ones answer
  `complete(messages, max_tokens, top_logprobs)` one request at a time (the stage's engine
  adds concurrency, retries and the spend cap), an in-process one grades `run(calls)` itself.

An unknown provider is an error naming the close matches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate.registry import Registry, registry

if TYPE_CHECKING:
    from evalgate.config import Params
    from evalgate.generate.base import Backend
    from evalgate.models import BaseModelRef

CAPABILITIES = frozenset({"complete", "plan", "chat", "next_token_probs", "judge"})


@dataclass(frozen=True)
class ProviderContext:
    """What a factory gets: the params, and for in-process models the base, its tokenizer, the
    adapter and the base weights' hash."""

    params: Params
    ref: BaseModelRef | None = None
    tokenizer: Any = None
    adapter_dir: Path | None = None
    base_sha: str = ""


@dataclass(frozen=True)
class Provider:
    name: str
    factory: Callable[[ProviderContext], Backend]
    capabilities: frozenset[str]
    description: str
    in_process: bool


PROVIDERS: Registry[Provider] = registry("provider")
"""Every provider, by name: the built-ins (generation: evalgate.generate.providers; judges:
evalgate.judging.providers), imported on the first lookup, and any a plugin registers."""


def provider(
    name: str, *, capabilities: set[str], in_process: bool = False, description: str = ""
) -> Callable[[Callable[[ProviderContext], Backend]], Callable[[ProviderContext], Backend]]:
    """Register a backend factory under `name` (see the module docstring)."""
    unknown = set(capabilities) - CAPABILITIES
    if unknown:
        raise ValueError(f"provider {name!r}: unknown capabilities {sorted(unknown)} (known: {sorted(CAPABILITIES)})")

    def register(factory: Callable[[ProviderContext], Backend]) -> Callable[[ProviderContext], Backend]:
        if name in PROVIDERS and PROVIDERS[name].factory is not factory:
            raise ValueError(f"provider {name!r} is already registered by {PROVIDERS[name].factory.__module__}")
        doc = description or " ".join((factory.__doc__ or "").strip().split("\n\n")[0].split())
        PROVIDERS[name] = Provider(name, factory, frozenset(capabilities), doc, in_process)
        return factory

    return register


def get_provider(name: str) -> Provider:
    return PROVIDERS.lookup(name)


def make_backend(name: str, ctx: ProviderContext, *, needs: set[str] = frozenset()) -> Backend:  # type: ignore[assignment]
    """The backend of provider `name`, refused when it lacks a capability in `needs`."""
    from evalgate.errors import ConfigError

    found = get_provider(name)
    missing = set(needs) - found.capabilities
    if missing:
        raise ConfigError(f"provider {name!r} cannot {', '.join(sorted(missing))} (it offers {', '.join(sorted(found.capabilities))})")
    return found.factory(ctx)
