"""`openai`: GPT through the official `openai` SDK; `base_url` points it at any
OpenAI-compatible server (vLLM, llama.cpp server, Ollama). Where the server returns
`top_logprobs`, each criterion's score is the probability-weighted mean over "1".."5" (G-Eval)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalgate.generate.base import ChatReply
from evalgate.generate.openai_compat import chat_reply
from evalgate.generate.registry import ProviderContext, provider
from evalgate.judging.engine import TransientError
from evalgate.judging.providers.common import api_key, classify


class OpenAIJudge:
    provider = "openai"

    def __init__(self, model: str, key_env: str, base_url: str | None, timeout_s: float, temperature: float | None = None):
        import openai

        self.model = model
        self.temperature = temperature
        self.key_env = key_env
        self._sdk = openai
        kwargs: dict[str, Any] = {"api_key": api_key(key_env, self.provider), "timeout": timeout_s, "max_retries": 0}
        if base_url:
            kwargs["base_url"] = base_url
        self._client = openai.OpenAI(**kwargs)

    def identity(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model}

    def complete(self, messages: Sequence[tuple[str, str]], max_tokens: int, top_logprobs: int) -> ChatReply:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": r, "content": c} for r, c in messages],
            "max_tokens": max_tokens,
            "temperature": 0.0 if self.temperature is None else self.temperature,
        }
        if top_logprobs:
            kwargs.update(logprobs=True, top_logprobs=top_logprobs)
        try:
            resp = self._client.chat.completions.create(**kwargs)
        except Exception as exc:  # noqa: BLE001 - classified: retried, or reported as one line
            raise classify(exc, self._sdk, self.key_env) from None
        if not getattr(resp, "choices", None):
            raise TransientError("a response without choices")
        return chat_reply(resp)

    def close(self) -> None:
        self._client.close()


@provider("openai", capabilities={"chat", "judge"})
def openai_judge(ctx: ProviderContext) -> OpenAIJudge:
    """GPT through the official `openai` SDK, or any OpenAI-compatible server via `base_url`;
    G-Eval scores from `top_logprobs` where the server returns them."""
    j = ctx.params.judge
    return OpenAIJudge(j.model or "", j.api_key_env or "OPENAI_API_KEY", j.base_url, j.timeout_s, j.temperature)
