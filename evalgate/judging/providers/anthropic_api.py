"""`anthropic`: Claude through the official `anthropic` SDK (Messages API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalgate.generate.base import ChatReply
from evalgate.generate.registry import ProviderContext, provider
from evalgate.judging.providers.common import api_key, classify


class AnthropicJudge:
    provider = "anthropic"

    def __init__(self, model: str, key_env: str, base_url: str | None, timeout_s: float, temperature: float | None = None):
        import anthropic

        self.model = model
        self.temperature = temperature
        self.key_env = key_env
        self._sdk = anthropic
        kwargs: dict[str, Any] = {"api_key": api_key(key_env, self.provider), "timeout": timeout_s, "max_retries": 0}
        if base_url:
            kwargs["base_url"] = base_url
        self._client = anthropic.Anthropic(**kwargs)

    def identity(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model}

    def complete(self, messages: Sequence[tuple[str, str]], max_tokens: int, top_logprobs: int) -> ChatReply:
        system = "\n\n".join(c for r, c in messages if r == "system")
        turns = [{"role": r, "content": c} for r, c in messages if r != "system"]
        try:
            # This SDK's signature no longer lists `temperature`: sent only when configured.
            extra = {"extra_body": {"temperature": self.temperature}} if self.temperature is not None else {}
            resp = self._client.messages.create(model=self.model, max_tokens=max_tokens, system=system, messages=turns, **extra)
        except Exception as exc:  # noqa: BLE001 - classified: retried, or reported as one line
            raise classify(exc, self._sdk, self.key_env) from None
        text = "".join(getattr(block, "text", "") for block in resp.content or [])
        usage = resp.usage
        return ChatReply(
            text=text,
            model=resp.model,
            finish_reason=resp.stop_reason or "end_turn",
            input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
        )

    def close(self) -> None:
        self._client.close()


@provider("anthropic", capabilities={"chat", "judge"})
def anthropic_judge(ctx: ProviderContext) -> AnthropicJudge:
    """Claude through the official `anthropic` SDK (Messages API); the key from the environment."""
    j = ctx.params.judge
    return AnthropicJudge(j.model or "", j.api_key_env or "ANTHROPIC_API_KEY", j.base_url, j.timeout_s, j.temperature)
