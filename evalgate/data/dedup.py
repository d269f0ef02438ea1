"""Text normalisation and the keys used for exact de-duplication, contradictions and leakage."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from evalgate.artifacts import sha256_json
from evalgate.prompts import Message

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: formatting differences do not make a new example."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def exact_key(messages: Sequence[Message]) -> str:
    return sha256_json([[m["role"], normalise(m["content"])] for m in messages])


def prompt_key(messages: Sequence[Message]) -> str:
    """Everything before the final answer: the same key with different answers is a contradiction."""
    return exact_key(messages[:-1])


def near_text(messages: Sequence[Message]) -> str:
    return "\n".join(f"{m['role']}: {normalise(m['content'])}" for m in messages)


def user_text(messages: Sequence[Message]) -> str:
    """What a user asks: compared with golden-set prompts to find leakage."""
    return "\n".join(normalise(m["content"]) for m in messages if m["role"] == "user")
