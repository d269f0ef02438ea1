"""Generation through an OpenAI-compatible completions server (vLLM, TGI, llama.cpp server).

Prompts arrive already rendered with the model's chat template (by evalgate's one prompt
renderer, the same one training uses), so this backend calls the plain *completions* endpoint,
never chat completions: the server must not apply a template of its own.

Greedy (temperature 0). The candidate is the adapter the server serves under
`evaluate.server.adapter_model` (vLLM: `--enable-lora --lora-modules NAME=models/adapter`).
At most `evaluate.server.concurrency` requests are in flight; answers are yielded as they
arrive, so the caller caches them incrementally and a failure loses nothing already answered.

Token counts: `usage.completion_tokens` when the server reports it (vLLM, TGI and llama.cpp
do); else the number of tokens in `choice.logprobs` when present; else the whitespace-separated
word count of the text, a rough stand-in that is documented as such in the predictions.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from evalgate.config import ServerParams
from evalgate.errors import InputError
from evalgate.generate.base import ChatReply, ChatRequest, Generation, Request, cut_at_stop

_MAX_DETAIL = 200


class OpenAICompatBackend:
    name = "openai-compatible"

    def __init__(self, server: ServerParams):
        self.server = server
        self.base_url = server.base_url.rstrip("/")
        self._client: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.items_generated = 0
        """Answers received from the server (not the cache): what tests count."""

    def identity(self) -> dict[str, Any]:
        # Not the URL: the same served model on another host gives the same answers.
        return {"backend": self.name, "model": self.server.model, "adapter_model": self.server.adapter_model}

    # -- plumbing -------------------------------------------------------------------------

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(
                    base_url=self.base_url,
                    api_key=_key(self.server.api_key_env),
                    timeout=self.server.timeout_s,
                    max_retries=self.server.max_retries,
                )
            return self._client

    def _get_executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.server.concurrency, thread_name_prefix="evalgate-openai"
                )
            return self._executor

    def _model_for(self, adapter: bool) -> tuple[str, str]:
        """The served model name to ask, and the params.yaml field it comes from."""
        if not adapter:
            return self.server.model, "evaluate.server.model"
        if not self.server.adapter_model:
            raise InputError(
                "evaluate.server.adapter_model is not set: the candidate needs the served name of the "
                "adapter (vLLM: --enable-lora --lora-modules NAME=models/adapter)"
            )
        return self.server.adapter_model, "evaluate.server.adapter_model"

    # -- generation -----------------------------------------------------------------------

    def generate(self, requests: Sequence[Request], *, adapter: bool) -> Iterator[list[tuple[int, Generation]]]:
        model, field = self._model_for(adapter)
        yield from self._window(requests, model, field, self._complete)

    def chat(self, requests: Sequence[ChatRequest], *, adapter: bool = False) -> Iterator[list[tuple[int, ChatReply]]]:
        """Replies to chat messages (the server applies its chat template), greedy, with the top
        log-probabilities of each reply token when a request asks for them and the server
        returns them; the exact model id the server reports is kept in each reply."""
        model, field = self._model_for(adapter)
        yield from self._window(requests, model, field, self._chat)

    def _window(self, requests: Sequence[Any], model: str, field: str, call: Any) -> Iterator[list[tuple[int, Any]]]:
        """`call(client, model, request)` for every request, at most `concurrency` in flight;
        finished answers yielded in request order within each chunk."""
        if not requests:
            return
        client = self._get_client()
        executor = self._get_executor()
        limit = self.server.concurrency
        pending: dict[Future[Any], int] = {}
        next_index = 0
        try:
            while next_index < len(requests) or pending:
                # A sliding window: never more than `concurrency` requests submitted, so a
                # failure leaves nothing queued behind it.
                while next_index < len(requests) and len(pending) < limit:
                    fut = executor.submit(call, client, model, requests[next_index])
                    pending[fut] = next_index
                    next_index += 1
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                chunk: list[tuple[int, Any]] = []
                for fut in sorted(done, key=lambda f: pending[f]):
                    index = pending.pop(fut)
                    exc = fut.exception()
                    if exc is not None:
                        raise self._user_error(exc, client, model, field) from None
                    chunk.append((index, fut.result()))
                self.items_generated += len(chunk)
                yield chunk
        finally:
            # On an error or an abandoned generator: drop whatever has not started. Requests
            # already in flight finish (or time out) in the background; their answers are dropped.
            for fut in pending:
                fut.cancel()

    def _chat(self, client: Any, model: str, request: ChatRequest) -> ChatReply:
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [{"role": role, "content": content} for role, content in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": 0.0,
        }
        if request.top_logprobs:
            kwargs.update(logprobs=True, top_logprobs=request.top_logprobs)
        response = client.chat.completions.create(**kwargs)
        return chat_reply(response)

    def _complete(self, client: Any, model: str, request: Request) -> Generation:
        start = time.perf_counter()
        response = client.completions.create(
            model=model,
            prompt=request.prompt,
            max_tokens=request.max_new_tokens,
            temperature=0,
            stop=list(request.stop) or None,
        )
        latency = time.perf_counter() - start
        if not response.choices:
            raise _EmptyAnswer()
        choice = response.choices[0]
        raw = choice.text or ""
        # A safety net: servers differ on whether the text includes the stop string.
        text, stopped = cut_at_stop(raw, request.stop)
        finish = "length" if choice.finish_reason == "length" and not stopped else "stop"
        return Generation(text=text, tokens=_count_tokens(response, choice, raw), latency_s=round(latency, 6), finish_reason=finish)

    # -- errors ---------------------------------------------------------------------------

    def _user_error(self, exc: BaseException, client: Any, model: str, field: str) -> BaseException:
        """A one-line InputError for what the user can fix; anything else is re-raised as is."""
        import openai

        url = self.base_url
        retries = self.server.max_retries
        after = f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
        if isinstance(exc, openai.APITimeoutError):
            return InputError(
                f"evaluate.server: {url} did not answer model '{model}' within {self.server.timeout_s:g}s{after}; "
                "check the server is healthy, or raise evaluate.server.timeout_s / lower concurrency"
            )
        if isinstance(exc, openai.APIConnectionError):
            return InputError(
                f"evaluate.server: cannot reach {url} ({_connection_reason(exc)}){after}; "
                "start the server or fix evaluate.server.base_url"
            )
        if isinstance(exc, openai.NotFoundError):
            served = _served_models(client)
            if served is not None and model not in served:
                names = ", ".join(sorted(served)) or "none"
                return InputError(
                    f"evaluate.server: model '{model}' is not served at {url} (it serves: {names}); "
                    f"check {field} against GET {url}/models"
                )
            return InputError(
                f"evaluate.server: {url} answered 404 for model '{model}' on POST /completions "
                f"({_detail(exc)}); check evaluate.server.base_url (usually ending in /v1), {field}, "
                "and that the server offers the completions API"
            )
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return InputError(
                f"evaluate.server: {url} refused the API key ({exc.status_code}: {_detail(exc)}); "
                f"put the key in the environment variable {self.server.api_key_env} (evaluate.server.api_key_env)"
            )
        if isinstance(exc, openai.APIStatusError):
            hint = (
                "check the prompt length plus max_new_tokens against the served context length, "
                "and the server's log"
                if 400 <= exc.status_code < 500
                else "check the server's log"
            )
            return InputError(
                f"evaluate.server: {url} answered {exc.status_code} for model '{model}'"
                f"{after if exc.status_code >= 429 else ''} ({_detail(exc)}); {hint}"
            )
        if isinstance(exc, _EmptyAnswer):
            return InputError(f"evaluate.server: {url} returned no choices for model '{model}'; check the server's log")
        return exc

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
            if self._client is not None:
                self._client.close()
                self._client = None


class _EmptyAnswer(Exception):
    """The server answered 200 with no choices."""


def _count_tokens(response: Any, choice: Any, raw: str) -> int:
    usage = getattr(response, "usage", None)
    if usage is not None and usage.completion_tokens is not None:
        return int(usage.completion_tokens)
    logprobs = getattr(choice, "logprobs", None)
    if logprobs is not None and getattr(logprobs, "tokens", None):
        return len(logprobs.tokens)
    return len(raw.split())


def _detail(exc: Any) -> str:
    """The server's own error message, one line, bounded."""
    message = getattr(exc, "message", None) or str(exc)
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = body["message"]
    line = " ".join(str(message).split())
    return line if len(line) <= _MAX_DETAIL else line[: _MAX_DETAIL - 3] + "..."


def _connection_reason(exc: BaseException) -> str:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, ConnectionResetError):
            return "connection reset"
        if isinstance(cur, OSError) and "Name or service not known" in str(cur):
            return "unknown host"
        cur = cur.__cause__ or cur.__context__
    # The innermost cause says most; the SDK's own text is just "Connection error."
    inner: BaseException = exc
    seen.clear()
    while (nxt := inner.__cause__ or inner.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        inner = nxt
    text = " ".join(str(inner).split()) or type(inner).__name__
    return text[:_MAX_DETAIL]


def _served_models(client: Any) -> set[str] | None:
    """The model names the server lists at GET /models, or None when it cannot tell."""
    import openai

    try:
        return {m.id for m in client.models.list(timeout=10)}
    except (openai.OpenAIError, ValueError, TypeError):
        return None


def chat_reply(response: Any) -> ChatReply:
    """A chat completion as a ChatReply: the text, the exact model id the server reports, and
    each reply token with its top alternatives' log-probabilities where the server sent them."""
    choice = response.choices[0]
    logprobs = tokens = None
    content = getattr(choice.logprobs, "content", None) if choice.logprobs is not None else None
    if content:
        tokens = tuple(t.token for t in content)
        logprobs = tuple({alt.token: float(alt.logprob) for alt in (t.top_logprobs or [])} for t in content)
    usage = response.usage
    return ChatReply(
        text=choice.message.content or "",
        model=response.model,
        finish_reason=choice.finish_reason or "stop",
        logprobs=logprobs,
        tokens=tokens,
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )


def _key(env: str) -> str:
    """The server's API key from `env` (remembered as a secret for every message), or "EMPTY"."""
    from evalgate.redact import remember

    key = os.environ.get(env) or ""
    remember(key, env)
    return key or "EMPTY"
