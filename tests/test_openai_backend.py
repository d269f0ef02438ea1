"""The OpenAI-compatible backend against a real HTTP server running the tiny model."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalgate.config import ServerParams
from evalgate.errors import InputError
from evalgate.generate.base import Generation, Request
from evalgate.generate.openai_compat import OpenAICompatBackend
from tests.openai_server import OpenAITestServer

QUESTIONS = [
    "What is the capital of France?",
    "Name a prime number.",
    "Why is the sky blue? Answer briefly.",
    "2+2=",
]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """The tiny model gains nothing from threads, and on a busy shared CPU torch's thread pool
    makes each step up to 50x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LoRA adapter with random non-zero lora_B, so it changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    config = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "v_proj", "o_proj", "down_proj"],
        init_lora_weights=False,  # lora_B random, not zero
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    out = tmp_path_factory.mktemp("tiny-adapter")
    peft_model.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, adapter_dir: Path) -> Iterator[OpenAITestServer]:
    with OpenAITestServer(tiny_model_dir, model_name="tiny", adapters={"cand": adapter_dir}) as srv:
        yield srv


@pytest.fixture
def srv(server: OpenAITestServer) -> OpenAITestServer:
    server.reset()
    return server


@pytest.fixture(scope="module")
def prompts(tiny_model_dir: Path) -> list[str]:
    from evalgate.models import load_tokenizer, resolve_base
    from evalgate.prompts import render_prompt

    tok = load_tokenizer(resolve_base(str(tiny_model_dir)))
    return [render_prompt(tok, [{"role": "user", "content": q}]) for q in QUESTIONS]


def hf_backend(tiny_model_dir: Path, adapter: Path | None) -> Any:
    from evalgate.generate.hf import HFBackend
    from evalgate.loading import Placement
    from evalgate.models import load_tokenizer, resolve_base

    ref = resolve_base(str(tiny_model_dir))
    return HFBackend(
        ref,
        load_tokenizer(ref),
        adapter_dir=adapter,
        quantization="none",
        placement=Placement("cpu", "float32"),
        token_budget=4096,
        max_batch_size=8,
    )


def make_requests(prompts: list[str], max_new_tokens: int = 8, stop: tuple[str, ...] = ()) -> list[Request]:
    return [Request(key=f"k{i}", prompt=p, max_new_tokens=max_new_tokens, stop=stop) for i, p in enumerate(prompts)]


def run(backend: Any, requests: list[Request], *, adapter: bool) -> list[Generation]:
    found: dict[int, Generation] = {}
    for chunk in backend.generate(requests, adapter=adapter):
        for i, g in chunk:
            assert i not in found
            found[i] = g
    assert sorted(found) == list(range(len(requests)))
    return [found[i] for i in range(len(requests))]


def remote(srv: OpenAITestServer, **overrides: Any) -> OpenAICompatBackend:
    params: dict[str, Any] = {"base_url": srv.base_url, "model": "tiny", "adapter_model": "cand", "concurrency": 4, "max_retries": 0, "timeout_s": 30}
    params.update(overrides)
    return OpenAICompatBackend(ServerParams(**params))


def comparable(gens: list[Generation]) -> list[tuple[str, int, str]]:
    return [(g.text, g.tokens, g.finish_reason) for g in gens]


@pytest.fixture(scope="module")
def hf_answers(tiny_model_dir: Path, adapter_dir: Path, prompts: list[str]) -> dict[str, list[Generation]]:
    requests = make_requests(prompts)
    base = hf_backend(tiny_model_dir, None)
    cand = hf_backend(tiny_model_dir, adapter_dir)
    try:
        return {"base": run(base, requests, adapter=False), "candidate": run(cand, requests, adapter=True)}
    finally:
        base.close()
        cand.close()


def test_base_answers_equal_the_hf_backend(srv: OpenAITestServer, prompts: list[str], hf_answers: dict[str, list[Generation]]) -> None:
    backend = remote(srv)
    try:
        got = run(backend, make_requests(prompts), adapter=False)
    finally:
        backend.close()
    assert comparable(got) == comparable(hf_answers["base"])
    assert backend.items_generated == len(prompts)
    assert [r["model"] for r in srv.requests] == ["tiny"] * len(prompts)
    assert all(r["temperature"] == 0 and r["max_tokens"] == 8 for r in srv.requests)
    assert all(g.latency_s > 0 for g in got)
    assert backend.identity() == {"backend": "openai-compatible", "model": "tiny", "adapter_model": "cand"}


def test_adapter_answers_equal_the_hf_candidate(
    srv: OpenAITestServer, prompts: list[str], hf_answers: dict[str, list[Generation]]
) -> None:
    backend = remote(srv)
    try:
        got = run(backend, make_requests(prompts), adapter=True)
    finally:
        backend.close()
    assert [r["model"] for r in srv.requests] == ["cand"] * len(prompts)
    assert comparable(got) == comparable(hf_answers["candidate"])
    assert [g.text for g in got] != [g.text for g in hf_answers["base"]]


def test_stop_strings_cut_the_text(srv: OpenAITestServer, prompts: list[str], hf_answers: dict[str, list[Generation]]) -> None:
    # The random tiny model repeats characters; the stop string is the two characters around
    # the first change inside an answer, so the expected text is a non-empty prefix.
    index, adapter, stop = next(
        (i, side == "candidate", g.text[p - 1 : p + 1])
        for side in ("candidate", "base")
        for i, g in enumerate(hf_answers[side])
        for p in range(2, len(g.text))
        if g.text[p] != g.text[p - 1]
    )
    full = hf_answers["candidate" if adapter else "base"][index].text
    backend = remote(srv)
    try:
        [got] = run(backend, make_requests([prompts[index]], stop=(stop,)), adapter=adapter)
    finally:
        backend.close()
    assert srv.requests[0]["stop"] == [stop]
    assert got.text == full[: full.find(stop)] != ""
    assert got.finish_reason == "stop"
    assert got.tokens < 8


def test_stop_strings_match_the_generated_text_only(srv: OpenAITestServer, prompts: list[str], hf_answers: dict[str, list[Generation]]) -> None:
    """vLLM semantics: a stop string never matches across the end of the prompt. The prompt
    ends with a newline; the stop string is that newline and the answer's first character, so
    it is there only across the prompt's end, and the answer goes on as if there were none."""
    index, stop = next(
        (i, "\n" + g.text[0]) for i, g in enumerate(hf_answers["base"]) if g.text and "\n" + g.text[0] not in g.text
    )
    assert prompts[index].endswith("\n")
    backend = remote(srv)
    try:
        [got] = run(backend, make_requests([prompts[index]], stop=(stop,)), adapter=False)
    finally:
        backend.close()
    assert comparable([got]) == comparable([hf_answers["base"][index]])
    assert got.tokens > 1  # not stopped by its first token, which completes the stop string with the prompt's newline


def test_stop_string_in_the_returned_text_is_cut_as_a_safety_net() -> None:
    """Some servers return the stop string (or ignore stop): the backend cuts anyway."""
    from types import SimpleNamespace

    response = SimpleNamespace(
        choices=[SimpleNamespace(text="alpha###beta", finish_reason="length", logprobs=None)], usage=None
    )
    client = SimpleNamespace(completions=SimpleNamespace(create=lambda **kw: response))
    backend = OpenAICompatBackend(ServerParams(base_url="http://x/v1", model="m"))
    got = backend._complete(client, "m", Request("k", "p", 5, ("###",)))
    assert (got.text, got.finish_reason, got.tokens) == ("alpha", "stop", 1)


def test_concurrency_is_bounded(srv: OpenAITestServer, prompts: list[str]) -> None:
    srv.delay_s = 0.25
    requests = make_requests(prompts * 2, max_new_tokens=2)
    backend = remote(srv, concurrency=2)
    try:
        run(backend, requests, adapter=False)
    finally:
        backend.close()
    assert len(srv.requests) == len(requests)
    assert srv.max_in_flight == 2

    srv.reset()
    srv.delay_s = 0.25
    backend = remote(srv, concurrency=4)
    try:
        run(backend, requests, adapter=False)
    finally:
        backend.close()
    assert srv.max_in_flight > 2


def test_answers_are_yielded_as_they_arrive_and_a_failure_stops_the_rest(srv: OpenAITestServer, prompts: list[str]) -> None:
    srv.fail_on = "Why is the sky blue"  # the third prompt
    backend = remote(srv, concurrency=1)
    got: list[int] = []
    with pytest.raises(InputError) as err:
        for chunk in backend.generate(make_requests(prompts, max_new_tokens=2), adapter=False):
            got += [i for i, _ in chunk]
    backend.close()
    assert got == [0, 1]  # answered before the failure, so the caller has cached them
    assert len(srv.requests) == 3  # nothing sent after the failure
    message = str(err.value)
    assert "\n" not in message
    assert "400" in message and "maximum context length" in message and srv.base_url in message


def test_server_not_running_is_an_input_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    backend = OpenAICompatBackend(ServerParams(base_url=url, model="tiny", max_retries=0, timeout_s=5))
    with pytest.raises(InputError) as err:
        run(backend, make_requests(["hello"]), adapter=False)
    backend.close()
    message = str(err.value)
    assert url in message and "connection refused" in message and "base_url" in message
    assert "\n" not in message


def test_timeout_is_an_input_error(srv: OpenAITestServer) -> None:
    srv.delay_s = 1.0
    backend = remote(srv, timeout_s=0.3)
    with pytest.raises(InputError) as err:
        run(backend, make_requests(["hello"], max_new_tokens=1), adapter=False)
    backend.close()
    srv.wait_idle()
    message = str(err.value)
    assert srv.base_url in message and "'tiny'" in message and "timeout_s" in message


def test_unknown_model_is_an_input_error(srv: OpenAITestServer) -> None:
    backend = remote(srv, model="no-such-model")
    with pytest.raises(InputError) as err:
        run(backend, make_requests(["hello"]), adapter=False)
    backend.close()
    message = str(err.value)
    assert "'no-such-model'" in message and srv.base_url in message
    assert "evaluate.server.model" in message and "tiny" in message  # what it does serve

    backend = remote(srv, adapter_model="no-such-adapter")
    with pytest.raises(InputError, match=r"'no-such-adapter'.*evaluate\.server\.adapter_model"):
        run(backend, make_requests(["hello"]), adapter=True)
    backend.close()


def test_adapter_without_adapter_model_is_an_input_error(srv: OpenAITestServer) -> None:
    backend = remote(srv, adapter_model=None)
    with pytest.raises(InputError, match=r"evaluate\.server\.adapter_model"):
        run(backend, make_requests(["hello"]), adapter=True)
    backend.close()
    assert srv.requests == []


def test_api_key_comes_from_the_configured_environment_variable(monkeypatch: pytest.MonkeyPatch, srv: OpenAITestServer) -> None:
    monkeypatch.setenv("MY_SERVER_KEY", "sekrit")
    backend = remote(srv, api_key_env="MY_SERVER_KEY")
    assert backend._get_client().api_key == "sekrit"
    backend.close()
    monkeypatch.delenv("MY_SERVER_KEY")
    backend = remote(srv, api_key_env="MY_SERVER_KEY")
    assert backend._get_client().api_key == "EMPTY"
    backend.close()


def test_chat_returns_the_served_model_id_and_top_logprobs(srv, tiny_model_dir):
    """The judge's path: chat messages in, the reply with each token's top log-probabilities."""
    from evalgate.generate.base import ChatRequest

    backend = OpenAICompatBackend(ServerParams(base_url=srv.base_url, model="tiny", adapter_model="cand"))
    try:
        requests = [
            ChatRequest(str(i), (("user", q),), max_tokens=4, top_logprobs=3 if i % 2 == 0 else 0)
            for i, q in enumerate(QUESTIONS)
        ]
        replies = dict(r for chunk in backend.chat(requests) for r in chunk)
    finally:
        backend.close()
    assert sorted(replies) == list(range(len(QUESTIONS)))
    for i, reply in replies.items():
        assert reply.model == "tiny" and reply.output_tokens >= 1
        if i % 2 == 0:
            assert reply.logprobs is not None and len(reply.logprobs) == reply.output_tokens
            # Up to 3 alternatives per token (the tiny byte-level model decodes some to the same string).
            assert all(1 <= len(alts) <= 3 and all(v <= 0.0 for v in alts.values()) for alts in reply.logprobs)
        else:
            assert reply.logprobs is None
    sent = [r for r in srv.requests if "messages" in r]
    assert all(r["temperature"] == 0.0 for r in sent) and sum(bool(r.get("logprobs")) for r in sent) == 2
