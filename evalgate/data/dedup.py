"""Text normalisation and the keys used for exact de-duplication, contradictions and leakage."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from evalgate.artifacts import sha256_text
from evalgate.prompts import Message

Normalised = list[tuple[str, str]]


def normalise(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: formatting differences do not make a new example."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def normalised(messages: Sequence[Message]) -> Normalised:
    return [(m["role"], normalise(m["content"])) for m in messages]


def exact_key(norm: Normalised) -> str:
    # \x1e and \x1f are whitespace to str.split, so normalised text never contains them
    # and the joined form is unambiguous.
    return sha256_text("\x1e".join(f"{role}\x1f{content}" for role, content in norm))


def prompt_key(norm: Normalised) -> str:
    """Everything before the final answer: the same key with different answers is a contradiction."""
    return exact_key(norm[:-1])


def near_text(norm: Normalised) -> str:
    return "\n".join(f"{role}: {content}" for role, content in norm)


def user_text(norm: Normalised) -> str:
    """What a user asks: compared with golden-set prompts to find leakage."""
    return "\n".join(content for role, content in norm if role == "user")
