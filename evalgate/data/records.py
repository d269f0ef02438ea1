"""Input formats (Alpaca, chat, prompt/completion) normalised to one canonical chat record.

Every problem is reported as `file:line: reason`; nothing here raises on bad data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from evalgate.artifacts import sha256_json
from evalgate.prompts import Message

Format = Literal["alpaca", "chat", "prompt_completion"]
ROLES = ("system", "user", "assistant")
FORMAT_KEYS: dict[Format, str] = {
    "chat": "'messages'",
    "alpaca": "'instruction' and 'output'",
    "prompt_completion": "'prompt' and 'completion'",
}


@dataclass
class Record:
    """A valid training example in canonical form, with where it came from."""

    id: str
    messages: list[Message]
    file: str
    line: int
    format: Format
    explicit_id: bool
    n_tokens: int = 0
    norm: list[tuple[str, str]] = field(default_factory=list)
    content_key: str = ""
    position: int = 0
    """Where it sat among all inputs (read order): used by `contradictions: keep_first` only."""

    @property
    def canonical_key(self) -> tuple[str, str, str]:
        """The order prepare processes records in: by content, never by where they sat, so
        which of two duplicates is kept, and so the prepared files, do not depend on order."""
        return (self.content_key, self.id, sha256_json(self.messages))

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def canonical(self) -> dict[str, Any]:
        return {"id": self.id, "messages": self.messages}


@dataclass
class Problem:
    file: str
    line: int
    reason: str
    raw: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


def iter_lines(path: Path, display: str) -> Iterator[tuple[int, str | None, Any | Problem]]:
    """Yield (line number, line text, parsed JSON value or Problem) for each non-blank line."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield lineno, raw.decode("utf-8", errors="replace").rstrip("\r\n"), Problem(
                    display, lineno, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); re-encode the file as UTF-8"
                )
                continue
            text = text.rstrip("\r\n")
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield lineno, text, Problem(display, lineno, f"invalid JSON: {exc.msg} (column {exc.colno})")
                continue
            yield lineno, text, obj


def detect_format(obj: Any) -> Format | None:
    if not isinstance(obj, dict):
        return None
    if "messages" in obj:
        return "chat"
    if "instruction" in obj:
        return "alpaca"
    if "prompt" in obj or "completion" in obj:
        return "prompt_completion"
    return None


def _text_field(obj: dict[str, Any], key: str, *, required: bool = True, allow_empty: bool = False) -> str | None:
    """Return the string value of `key`, or raise ValueError with the reason."""
    if key not in obj:
        if required:
            raise ValueError(f"missing field '{key}'")
        return None
    value = obj[key]
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValueError(f"field '{key}' must be a string, got {_json_type(value)}")
    if not allow_empty and not value.strip():
        raise ValueError(f"field '{key}' is empty")
    return value


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _from_alpaca(obj: dict[str, Any]) -> list[Message]:
    instruction = _text_field(obj, "instruction")
    extra = _text_field(obj, "input", required=False, allow_empty=True)
    output = _text_field(obj, "output")
    system = _text_field(obj, "system", required=False)
    user = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
    messages: list[Message] = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": user}, {"role": "assistant", "content": output}]


def _from_prompt_completion(obj: dict[str, Any]) -> list[Message]:
    prompt = _text_field(obj, "prompt")
    completion = _text_field(obj, "completion")
    system = _text_field(obj, "system", required=False)
    messages: list[Message] = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]


def _from_chat(obj: dict[str, Any]) -> list[Message]:
    messages = obj["messages"]
    if not isinstance(messages, list):
        raise ValueError(f"field 'messages' must be an array, got {_json_type(messages)}")
    if not messages:
        raise ValueError("field 'messages' is empty")
    out: list[Message] = []
    previous = None
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise ValueError(f"messages[{i}] must be an object with 'role' and 'content', got {_json_type(msg)}")
        if "role" not in msg:
            raise ValueError(f"messages[{i}]: missing field 'role'")
        role = msg["role"]
        if role not in ROLES:
            raise ValueError(f"messages[{i}].role: unknown role {role!r}; expected system, user or assistant")
        if "content" not in msg:
            raise ValueError(f"messages[{i}]: missing field 'content'")
        content = msg["content"]
        if not isinstance(content, str):
            raise ValueError(f"messages[{i}].content must be a string, got {_json_type(content)}")
        if not content.strip():
            raise ValueError(f"messages[{i}].content is empty")
        if role == "system" and i != 0:
            raise ValueError(f"messages[{i}]: a system message is only allowed first")
        expected = "user" if previous in (None, "system", "assistant") else "assistant"
        if role != "system" and role != expected:
            after = f"after '{previous}'" if previous else "first"
            raise ValueError(
                f"messages[{i}]: wrong role order: '{role}' {after}; expected '{expected}' "
                "(an optional system message, then user and assistant turns alternating)"
            )
        out.append({"role": role, "content": content})
        previous = role
    if previous != "assistant":
        raise ValueError("assistant turn missing: the last message must be from the assistant")
    return out


CONVERTERS = {"alpaca": _from_alpaca, "chat": _from_chat, "prompt_completion": _from_prompt_completion}


def content_id(messages: list[Message]) -> str:
    return "sha-" + sha256_json(messages)[:16]


def parse_record(obj: Any, fmt: Format, display: str, lineno: int) -> Record | Problem:
    """Validate one decoded JSON value against `fmt` and normalise it."""
    if not isinstance(obj, dict):
        return Problem(display, lineno, f"record must be a JSON object, got {_json_type(obj)}")
    seen = detect_format(obj)
    if seen is not None and seen != fmt:
        return Problem(
            display,
            lineno,
            f"record is in {seen} format but the file is {fmt}; use one format per file",
        )
    if seen is None:
        keys = ", ".join(sorted(obj)) or "none"
        return Problem(display, lineno, f"not a {fmt} record: expected {FORMAT_KEYS[fmt]}, got keys: {keys}")
    try:
        messages = CONVERTERS[fmt](obj)
    except ValueError as exc:
        return Problem(display, lineno, str(exc))
    raw_id = obj.get("id")
    if raw_id is None:
        return Record(content_id(messages), messages, display, lineno, fmt, explicit_id=False)
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        return Problem(display, lineno, f"field 'id' must be a string or integer, got {_json_type(raw_id)}")
    if isinstance(raw_id, str) and not raw_id.strip():
        return Problem(display, lineno, "field 'id' is empty")
    return Record(str(raw_id), messages, display, lineno, fmt, explicit_id=True)


def read_file(path: Path, display: str, declared: str) -> tuple[list[Record], list[Problem], Format | None]:
    """Read one JSONL file: format detected from its first recognisable record unless declared."""
    records: list[Record] = []
    problems: list[Problem] = []
    fmt: Format | None = None if declared == "auto" else declared  # type: ignore[assignment]
    for lineno, text, obj in iter_lines(path, display):
        if isinstance(obj, Problem):
            obj.raw = text
            problems.append(obj)
            continue
        if fmt is None:
            fmt = detect_format(obj)
            if fmt is None:
                keys = ", ".join(sorted(obj)) if isinstance(obj, dict) else _json_type(obj)
                problems.append(
                    Problem(
                        display,
                        lineno,
                        "cannot detect the format: expected 'messages' (chat), 'instruction'/'output' "
                        f"(alpaca) or 'prompt'/'completion', got {'keys: ' + keys if isinstance(obj, dict) else keys}",
                        text,
                    )
                )
                continue
        parsed = parse_record(obj, fmt, display, lineno)
        if isinstance(parsed, Problem):
            parsed.raw = text
            problems.append(parsed)
        else:
            records.append(parsed)
    return records, problems, fmt
