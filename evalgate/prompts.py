"""The one prompt renderer: training and evaluation both render chats through these functions,
so the prompt format cannot drift between them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict

from evalgate.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


class Message(TypedDict):
    role: str
    content: str


def _require_template(tokenizer: PreTrainedTokenizerBase) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(
            f"model.base: the tokenizer of {tokenizer.name_or_path} has no chat template; "
            "use an instruct/chat model or add chat_template.jinja to its directory"
        )


def render_chat(tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message]) -> str:
    """A whole conversation (ending with the assistant's answer) as the model sees it in training."""
    _require_template(tokenizer)
    return tokenizer.apply_chat_template(list(messages), tokenize=False)


def render_chats(tokenizer: PreTrainedTokenizerBase, conversations: Sequence[Sequence[Message]]) -> list[str]:
    _require_template(tokenizer)
    if not conversations:
        return []
    return tokenizer.apply_chat_template([list(c) for c in conversations], tokenize=False)


def render_prompt(tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message]) -> str:
    """The prompt up to where the assistant starts answering (generation and loss masking)."""
    _require_template(tokenizer)
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)


def count_tokens(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[int]:
    """Token counts of already-rendered texts (special tokens are part of the template)."""
    if not texts:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "encode_batch_fast"):
        # Same ids as tokenizer(...), without offsets and Python-side conversion.
        return [len(e.ids) for e in backend.encode_batch_fast(list(texts), add_special_tokens=False)]
    encoded = tokenizer(list(texts), add_special_tokens=False, return_attention_mask=False)
    return [len(ids) for ids in encoded["input_ids"]]
