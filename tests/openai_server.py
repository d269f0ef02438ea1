"""A small OpenAI-compatible server that runs a real local model, for tests.

Implements just enough of the API for the official `openai` SDK: `GET /v1/models`,
`POST /v1/completions` and `POST /v1/chat/completions` (greedy, like vLLM with temperature 0;
chat applies the model's chat template and returns `top_logprobs` per reply token on request). It serves a local Hugging Face
model directory under `model_name` and, optionally, PEFT adapters under their own names
(as vLLM does with `--enable-lora --lora-modules NAME=path`).

Generation follows vLLM's conventions: the prompt is tokenized without special tokens (it is
already rendered with the chat template), generation stops at EOS, a stop string or
`max_tokens`; the stop string is excluded from the text; `usage.completion_tokens` counts the
generated tokens including the EOS or the token that completed a stop string.

Every completion request is recorded (`requests`), the peak number in flight is tracked
(`max_in_flight`), and `delay_s` holds each request for a while so concurrency is visible.
`fail_on`: a prompt containing this substring gets a 400 (as vLLM answers an over-long prompt).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class OpenAITestServer:
    def __init__(
        self,
        model_dir: Path | str,
        *,
        model_name: str = "base",
        adapters: dict[str, Path | str] | None = None,
        delay_s: float = 0.0,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_name = model_name
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.models: dict[str, Any] = {}
        base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
        self.models[model_name] = base.eval()
        for name, path in (adapters or {}).items():
            from peft import PeftModel

            fresh = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
            self.models[name] = PeftModel.from_pretrained(fresh, str(path), is_trainable=False).eval()
        self.delay_s = delay_s
        self.fail_on: str | None = None
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._state = threading.Lock()
        self._generate_lock = threading.Lock()  # one generate() at a time, like one GPU
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAITestServer:
        handler = type("Handler", (_Handler,), {"app": self})
        self._httpd = _HTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="openai-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenAITestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget recorded requests and settings between tests."""
        with self._state:
            self.requests.clear()
            self.max_in_flight = self.in_flight
        self.delay_s = 0.0
        self.fail_on = None

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until no request is being handled (e.g. one a client timed out on)."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)

    # -- the API --------------------------------------------------------------------------

    def list_models(self) -> dict[str, Any]:
        now = int(time.time())
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": now, "owned_by": "evalgate-tests"} for name in self.models],
        }

    def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._state:
            self.requests.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            return self._complete(body)
        finally:
            with self._state:
                self.in_flight -= 1

    def _complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = body.get("model")
        if name not in self.models:
            return 404, _error(f"The model `{name}` does not exist.", "NotFoundError", 404, param="model")
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if not isinstance(prompt, str):
            return 400, _error("this test server takes one string prompt", "BadRequestError", 400, param="prompt")
        if self.fail_on is not None and self.fail_on in prompt:
            return 400, _error(
                "This model's maximum context length is 4096 tokens. Please reduce the length of the prompt.",
                "BadRequestError",
                400,
            )
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        max_tokens = int(body.get("max_tokens") or 16)
        prompt_ids, new_ids = self._generate(self.models[name], prompt, max_tokens, stop)
        text, finish = self._finish(new_ids, max_tokens, stop)
        return 200, {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": name,
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": len(prompt_ids),
                "completion_tokens": len(new_ids),
                "total_tokens": len(prompt_ids) + len(new_ids),
            },
        }

    def chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._state:
            self.requests.append(body)
        name = body.get("model")
        if name not in self.models:
            return 404, _error(f"The model `{name}` does not exist.", "NotFoundError", 404, param="model")
        messages = body.get("messages") or []
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
        prompt_ids, new_ids, scores = self._generate(self.models[name], prompt, max_tokens, [], with_scores=True)
        text, finish = self._finish(new_ids, max_tokens, [])
        logprobs = None
        top = int(body.get("top_logprobs") or 0)
        if body.get("logprobs"):
            import torch

            content = []
            for tid, step in zip(new_ids, scores, strict=True):
                lp = torch.log_softmax(step[0].float(), dim=-1)
                best = torch.topk(lp, max(top, 1))
                content.append({
                    "token": self.tokenizer.decode([tid]), "logprob": float(lp[tid]), "bytes": None,
                    "top_logprobs": [
                        {"token": self.tokenizer.decode([int(i)]), "logprob": float(v), "bytes": None}
                        for v, i in zip(best.values[:top], best.indices[:top], strict=True)
                    ],
                })
            logprobs = {"content": content}
        return 200, {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish, "logprobs": logprobs}],
            "usage": {"prompt_tokens": len(prompt_ids), "completion_tokens": len(new_ids), "total_tokens": len(prompt_ids) + len(new_ids)},
        }

    def _generate(self, model: Any, prompt: str, max_tokens: int, stop: list[str], with_scores: bool = False) -> Any:
        import torch

        tok = self.tokenizer
        prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        kwargs: dict[str, Any] = {}
        if stop:
            # Like vLLM, look for stop strings in the generated text only (transformers'
            # `stop_strings` also match across the end of the prompt).
            from transformers import StoppingCriteriaList

            kwargs["stopping_criteria"] = StoppingCriteriaList([_stop_in_generated(tok, len(prompt_ids), stop)])
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with self._generate_lock, torch.inference_mode():
            out = model.generate(
                input_ids=torch.tensor([prompt_ids], dtype=torch.long),
                attention_mask=torch.ones((1, len(prompt_ids)), dtype=torch.long),
                max_new_tokens=max_tokens,
                do_sample=False,
                num_beams=1,
                temperature=None,
                top_p=None,
                top_k=None,
                pad_token_id=pad_id,
                output_scores=with_scores,
                return_dict_in_generate=with_scores,
                **kwargs,
            )
        if with_scores:
            return prompt_ids, out.sequences[0, len(prompt_ids) :].tolist(), list(out.scores)
        return prompt_ids, out[0, len(prompt_ids) :].tolist()

    def _finish(self, new_ids: list[int], max_tokens: int, stop: list[str]) -> tuple[str, str]:
        tok = self.tokenizer
        eos = tok.eos_token_id
        ended = bool(new_ids) and new_ids[-1] == eos
        kept = new_ids[:-1] if ended else new_ids
        text = tok.decode(kept, skip_special_tokens=True)
        cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
        if cuts:
            return text[: min(cuts)], "stop"
        return text, "stop" if ended or len(new_ids) < max_tokens else "length"


def _stop_in_generated(tokenizer: Any, prompt_len: int, stop: list[str]) -> Any:
    """A StoppingCriteria: stop once the generated text (not the prompt) holds a stop string."""
    import torch
    from transformers import StoppingCriteria

    class StopInGenerated(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            text = tokenizer.decode(input_ids[0, prompt_len:].tolist(), skip_special_tokens=True)
            hit = any(s in text for s in stop)
            return torch.full((input_ids.shape[0],), hit, dtype=torch.bool, device=input_ids.device)

    return StopInGenerated()


def _error(message: str, type_: str, code: int, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client gave up (a timeout test); nothing to report
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    app: OpenAITestServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, self.app.list_models())
        else:
            self._send(404, _error(f"no route GET {self.path}", "NotFoundError", 404))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        route = self.path.rstrip("/")
        if route not in ("/v1/completions", "/v1/chat/completions"):
            self._send(404, _error(f"no route POST {self.path}", "NotFoundError", 404))
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send(400, _error("invalid JSON body", "BadRequestError", 400))
            return
        try:
            status, payload = self.app.complete(body) if route == "/v1/completions" else self.app.chat(body)
        except Exception as exc:  # a test server: report, don't hang the client
            status, payload = 500, _error(f"{type(exc).__name__}: {exc}", "InternalServerError", 500)
        self._send(status, payload)
