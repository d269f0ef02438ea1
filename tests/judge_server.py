"""A scripted LLM-judge server on 127.0.0.1 that speaks both hosted APIs the official SDKs use:
Anthropic's Messages API (`POST /v1/messages`) and OpenAI's chat completions
(`POST /v1/chat/completions`, with `top_logprobs` on request).

A `grader(system, user, api)` decides each reply's text (the default returns a fixed grade for
every criterion the system prompt asks for). Misbehaviour is scripted by a substring of the
request's last user message: `script(substring, ["429", "500", "malformed", "slow", "noscore",
"truncated", "401echo", "ok"])` makes the matching requests answer those ways, in turn, then
normally ("truncated": the first half of the grade, stopped at the token limit: Anthropic's
`stop_reason: "max_tokens"`, OpenAI's `finish_reason: "length"`). Every request is
counted (`calls`), per API and per user message, so tests can prove that nothing is repeated.
`latency_s` holds each request that long (the throughput benchmark uses 0.3 s).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Grader = Callable[[str, str, str], str]


def criteria_of(system: str) -> list[str]:
    """The criteria a pointwise judge prompt asks for, from its reply format line."""
    fmt = system.rsplit("\n", 1)[-1]
    return re.findall(r'"([a-z_]+)": \{"score"', fmt)


def fixed_grader(score: int = 4) -> Grader:
    def grade(system: str, user: str, api: str) -> str:
        crits = criteria_of(system)
        if crits:
            return json.dumps({c: {"score": score, "reason": f"graded {score}"} for c in crits})
        return json.dumps({"winner": "A", "reason": "A is better"})

    return grade


def answer_of(user: str, label: str = "answer") -> str:
    """The answer quoted between `label`'s markers (`answer`, or `answer-a` / `answer-b` pairwise)."""
    m = re.search(rf"<{label}-([0-9a-f]{{8}})>\n(.*)\n</{label}-\1>", user, re.S)
    return m.group(2) if m else ""


class JudgeTestServer:
    def __init__(self, *, grader: Grader | None = None, model_ids: dict[str, str] | None = None, latency_s: float = 0.0):
        self.grader = grader or fixed_grader()
        self.model_ids = dict(model_ids or {})
        """Alias -> the dated id the server reports (an unknown model is reported as asked)."""
        self.latency_s = latency_s
        self.slow_s = 5.0
        self.neighbour_form: Callable[[str], str] = str
        """How the neighbouring grades among a score token's top log-probabilities are spelled
        (a server may list a full-width "４" beside "3")."""
        self.seen_key = ""  # the key of the latest request (for "401echo")
        self.calls: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.started_at: list[float] = []
        self._scripts: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> JudgeTestServer:
        handler = type("Handler", (_Handler,), {"app": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> JudgeTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.started_at.clear()
            self._scripts.clear()
            self.max_in_flight = 0

    def script(self, substring: str, behaviours: list[str]) -> None:
        with self._lock:
            self._scripts.append((substring, list(behaviours)))

    def count(self, api: str | None = None, contains: str | None = None) -> int:
        with self._lock:
            return sum(
                1 for c in self.calls if (api is None or c["api"] == api) and (contains is None or contains in c["user"])
            )

    # -- behaviour ------------------------------------------------------------------------

    def _behaviour(self, user: str) -> str:
        with self._lock:
            for substring, queue in self._scripts:
                if substring in user and queue:
                    return queue.pop(0)
        return "ok"

    def handle(self, api: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        messages = body.get("messages") or []
        system = body.get("system") or ""
        if api == "openai":
            system = "\n\n".join(m["content"] for m in messages if m.get("role") == "system")
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        if isinstance(user, list):
            user = "".join(part.get("text", "") for part in user)
        behaviour = self._behaviour(user)
        with self._lock:
            self.calls.append({"api": api, "user": user, "system": system, "behaviour": behaviour, "body": body})
            self.started_at.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency_s:
                time.sleep(self.latency_s)
            if behaviour == "401echo":  # a service that quotes the key it refused
                return 401, {}, _error(api, 401, "authentication_error", f"invalid x-api-key: {self.seen_key}")
            if behaviour == "429":
                return 429, {"retry-after": "1"}, _error(api, 429, "rate_limit_error", "rate limited")
            if behaviour == "500":
                return 500, {}, _error(api, 500, "api_error", "internal error")
            if behaviour == "slow":
                time.sleep(self.slow_s)
            if behaviour == "malformed":
                return 200, {}, b'{"id": "x", "choices": [ {"message": '
            if behaviour == "noscore":
                text = "I think this answer is quite good overall."
            else:
                text = self.grader(system, user, api)
            stop = None
            if behaviour == "truncated":
                text, stop = text[: len(text) // 2], ("max_tokens" if api == "anthropic" else "length")
            model = self.model_ids.get(body.get("model", ""), body.get("model", ""))
            return 200, {}, json.dumps(_reply(api, model, text, body, system, user, stop, self.neighbour_form)).encode()
        finally:
            with self._lock:
                self.in_flight -= 1


def _error(api: str, status: int, kind: str, message: str) -> bytes:
    if api == "anthropic":
        return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": status}}).encode()


def _tokens(text: str) -> list[str]:
    """A deterministic tokenisation for usage counts and logprobs: digits and punctuation alone."""
    return re.findall(r"\d|\w+|\s+|[^\w\s]", text)


def _reply(
    api: str, model: str, text: str, body: dict[str, Any], system: str, user: str, stop: str | None = None, neighbour: Callable[[str], str] = str
) -> dict[str, Any]:
    tin = len(_tokens(system)) + len(_tokens(user))
    toks = _tokens(text)
    if api == "anthropic":
        return {
            "id": f"msg_{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": stop or "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": tin, "output_tokens": len(toks)},
        }  # fmt: skip
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": stop or "stop", "logprobs": None}
    if body.get("logprobs") and body.get("top_logprobs"):
        content = []
        for t in toks:
            alts = [{"token": t, "logprob": -0.05, "bytes": None}]
            if t in "12345" and len(t) == 1:  # a spread over the neighbouring grades, as a real model gives
                n = int(t)
                alts = [{"token": t, "logprob": -0.4, "bytes": None}]
                for other in (n - 1, n + 1):
                    if 1 <= other <= 5:
                        alts.append({"token": neighbour(str(other)), "logprob": -1.6, "bytes": None})
            content.append({"token": t, "logprob": alts[0]["logprob"], "bytes": None, "top_logprobs": alts})
        choice["logprobs"] = {"content": content}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [choice], "usage": {"prompt_tokens": tin, "completion_tokens": len(toks), "total_tokens": tin + len(toks)},
    }  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    app: JudgeTestServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._send(400, {}, b'{"error": {"message": "bad json"}}')
            return
        path = self.path.split("?")[0].rstrip("/")
        if path.endswith("/messages"):
            api = "anthropic"
        elif path.endswith("/chat/completions"):
            api = "openai"
        else:
            self._send(404, {}, b'{"error": {"message": "not found"}}')
            return
        self.app.seen_key = self.headers.get("x-api-key") or (self.headers.get("authorization") or "").removeprefix("Bearer ")
        try:
            status, headers, payload = self.app.handle(api, body)
        except Exception:  # noqa: BLE001 - a test server must answer
            status, headers, payload = 500, {}, b'{"error": {"message": "server bug"}}'
        self._send(status, headers, payload)

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout): nothing to answer
