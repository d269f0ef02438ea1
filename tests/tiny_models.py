"""Tiny random models of the common causal-LM architectures, built from a config offline.

Each has 3 decoder layers of width 64 and the tiny tokenizer's vocabulary. The init range is
chosen per architecture so that different prompts get different greedy answers (with the
configs' default 0.02 a tiny model answers every prompt with the same token repeated, which
would let an engine that ignores the prompt pass an equality test); the matrix asserts it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

LAYERS = 3

ARCHITECTURES: dict[str, tuple[str, dict[str, Any]]] = {
    # name: (transformers config class, what differs from the common settings)
    "llama": ("LlamaConfig", {"tie_word_embeddings": True}),
    "qwen2": ("Qwen2Config", {}),
    "qwen3": ("Qwen3Config", {"head_dim": 16}),
    "qwen3_moe": ("Qwen3MoeConfig", {"head_dim": 16, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32}),
    # Gemma 2 and 3 soft-cap their logits (cap * tanh(logits / cap); the real models' cap of 30
    # would not touch a tiny model's logits, of about 0.6 at most: 0.5 bends them) and alternate sliding-window layers.
    "gemma2": ("Gemma2Config", {"head_dim": 16, "sliding_window": 16, "initializer_range": 0.02, "final_logit_softcapping": 0.5}),
    "gemma3": ("Gemma3TextConfig", {"head_dim": 16, "sliding_window": 16, "initializer_range": 0.02, "final_logit_softcapping": 0.5}),
    "mistral": ("MistralConfig", {"sliding_window": 16}),
    "phi3": ("Phi3Config", {}),
    "olmo2": ("Olmo2Config", {}),
    "gpt_neox": ("GPTNeoXConfig", {"initializer_range": 0.5}),
    # Granite divides its logits by logits_scaling and scales embeddings, residuals and attention.
    "granite": ("GraniteConfig", {"logits_scaling": 8.0, "embedding_multiplier": 4.0, "residual_multiplier": 0.5, "attention_multiplier": 0.25}),
    "smollm3": ("SmolLM3Config", {}),
    # GPT-2's projections are Conv1D layers (weights stored [in, out]).
    "gpt2": ("GPT2Config", {"n_embd": 64, "n_layer": LAYERS, "n_head": 4, "n_positions": 1024}),
    # GPT-J: layers that return tuples; evalgate runs it through its full forward (not in VERIFIED).
    "gptj": ("GPTJConfig", {"n_embd": 64, "n_layer": LAYERS, "n_head": 4, "n_positions": 1024, "rotary_dim": 8}),
}
MATRIX = [name for name in ARCHITECTURES if name != "gptj"]


def config_for(name: str, vocab_size: int, pad_id: int, eos_id: int) -> Any:
    import transformers

    cls_name, extra = ARCHITECTURES[name]
    settings: dict[str, Any] = {
        "vocab_size": vocab_size,
        "pad_token_id": pad_id,
        "eos_token_id": eos_id,
        "bos_token_id": None,
        "initializer_range": 0.2,
    }
    if not cls_name.startswith(("GPT2", "GPTJ")):
        settings.update(
            hidden_size=64, intermediate_size=128, num_hidden_layers=LAYERS, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=1024,
        )  # fmt: skip
    if cls_name == "GPTNeoXConfig":
        settings.pop("num_key_value_heads")
    settings.update(extra)
    return getattr(transformers, cls_name)(**settings)


def build(name: str, tokenizer_dir: Path, out: Path, seed: int = 0) -> Path:
    """A local HF directory: the architecture's tiny random model and the tiny tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out.mkdir(parents=True, exist_ok=True)
    for f in tokenizer_dir.iterdir():
        shutil.copy(f, out / f.name)
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config_for(name, len(tok), tok.pad_token_id, tok.eos_token_id))
    model.save_pretrained(str(out))
    return out
