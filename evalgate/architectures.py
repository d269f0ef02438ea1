"""What evalgate knows about a model's architecture: what its forward does to the logits after
the LM head, and the architectures its layer shortcuts are verified on.

evalgate computes logits itself where the model's forward would compute too many (training's loss
projects only the answer positions through the LM head), so it must apply whatever the forward
applies after the head: Gemma 2 and 3 soft-cap the logits (cap * tanh(logits / cap)), Granite
divides them by `logits_scaling`, Cohere multiplies them by `logit_scale`, Falcon-H1 by
`lm_head_multiplier`. `final_logits` is the head followed by those steps, in the forward's order
and dtype. An architecture outside `VERIFIED` is checked once against its own forward
(`matches_forward`), so a step missing here is found rather than trained against.

`VERIFIED` are the model types whose layer shortcuts (the frozen layers computed once for
training; the base's lower layers shared with the candidate in evaluate and forgetting) and
logits tests/test_architectures.py checks against the model's own forward, `generate` and loss.
Another architecture is trained and evaluated through its full forward pass, and a warning says
so once.
"""

from __future__ import annotations

from typing import Any

from evalgate.ui import warn

VERIFIED = frozenset(
    {
        "llama", "qwen2", "qwen3", "qwen3_moe", "gemma2", "gemma3_text", "mistral", "phi3",
        "olmo2", "gpt_neox", "granite", "smollm3", "gpt2",
    }
)  # fmt: skip

_warned: set[str] = set()


def model_type(model: Any) -> str:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return str(base.config.get_text_config(decoder=True).model_type)


def warn_once(key: str, message: str) -> None:
    """A warning printed once per process for `key`."""
    if key not in _warned:
        _warned.add(key)
        warn(message)


def logit_steps(model: Any) -> list[tuple[str, float]]:
    """What the forward does to the LM head's output, in order: ("mul" | "div" | "softcap", value)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.config.get_text_config(decoder=True)
    steps: list[tuple[str, float]] = []
    scaling = getattr(config, "logits_scaling", None)
    if scaling is not None:  # the Granite family divides; HyperCLOVA X multiplies
        steps.append(("mul" if config.model_type.startswith("hyperclovax") else "div", float(scaling)))
    for name in ("logit_scale", "lm_head_multiplier", "output_multiplier"):  # Cohere, Falcon-H1, Muse
        value = getattr(config, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            steps.append(("mul", float(value)))
    cap = getattr(config, "final_logit_softcapping", None)
    if cap is not None:  # Gemma 2 and 3: after any scaling
        steps.append(("softcap", float(cap)))
    return steps


def final_logits(model: Any, hidden: Any) -> Any:
    """The model's logits for final hidden states `hidden` ([..., hidden_size]): its LM head, then
    what its forward applies after the head, in the head's output dtype as the forward does."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    logits = base.get_output_embeddings()(hidden)
    for op, value in logit_steps(base):
        if op == "mul":
            logits = logits * value
        elif op == "div":
            logits = logits / value
        else:
            logits = torch.tanh(logits / value) * value
    return logits


def matches_forward(model: Any, input_ids: Any) -> bool:
    """Whether `final_logits` gives the model's own logits for `input_ids` ([rows, n]): one
    forward pass in eval mode (dropout off, so no random numbers are drawn)."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    store: dict[str, Any] = {}
    handle = base.get_output_embeddings().register_forward_pre_hook(lambda module, args: store.__setitem__("hidden", args[0]))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            theirs = base(input_ids=input_ids, use_cache=False).logits
            ours = final_logits(base, store["hidden"])
    finally:
        handle.remove()
        model.train(was_training)
    if ours.shape != theirs.shape:
        return False
    theirs, ours = theirs.float(), ours.float()
    return bool(torch.allclose(ours, theirs, rtol=1e-3, atol=1e-3 * float(theirs.abs().max().clamp(min=1.0))))
