"""The built-in generation providers: the in-process Hugging Face model and any
OpenAI-compatible server. Each is one registered factory (evalgate.generate.registry)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evalgate.generate.registry import ProviderContext, provider

if TYPE_CHECKING:
    from evalgate.generate.base import Backend


@provider("hf", capabilities={"complete", "plan", "next_token_probs"}, in_process=True)
def hf(ctx: ProviderContext) -> Backend:
    """The base model in this process (transformers), the adapter toggled: one load for both
    sides, batched greedy decoding, the base's states below the adapter reused."""
    import torch

    from evalgate.generate.cache import answer_cache_path
    from evalgate.generate.hf import HFBackend
    from evalgate.loading import resolve_placement
    from evalgate.trunk import TrunkStore

    assert ctx.ref is not None
    ev = ctx.params.evaluate
    if ev.threads:
        torch.set_num_threads(ev.threads)
    placement = resolve_placement(ev.device, ev.compute_dtype)
    trunk = None
    if ev.trunk_cache_gb > 0 and ctx.base_sha:
        namespace = {"base": ctx.base_sha, "quantization": ev.quantization, **placement.engine()}
        trunk = TrunkStore(answer_cache_path(ev).parent / "trunk", namespace, int(ev.trunk_cache_gb * 2**30))
    return HFBackend(
        ctx.ref,
        ctx.tokenizer,
        adapter_dir=ctx.adapter_dir,
        quantization=ev.quantization,
        placement=placement,
        token_budget=ev.token_budget,
        max_batch_size=ev.max_batch_size,
        trunk=trunk,
    )


@provider("openai-compatible", capabilities={"complete", "chat"})
def openai_compatible(ctx: ProviderContext) -> Backend:
    """A server speaking the OpenAI API (vLLM, TGI, llama.cpp server, Ollama) through the
    official `openai` SDK: completions of rendered prompts, chat with top log-probabilities."""
    from evalgate.generate.openai_compat import OpenAICompatBackend

    server = ctx.params.evaluate.server
    assert server is not None
    return OpenAICompatBackend(server)
