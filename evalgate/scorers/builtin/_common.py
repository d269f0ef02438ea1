"""Helpers shared by the built-in scorers: normalisation, JSON extraction, field projection.

Per-item problems are raised as `Reject(value, reason)` inside `score_one` and turned into a
`Score` by `ItemScorer.score`: value 0.0 for a bad model output (not JSON, missing field, no
match), value None only when the *reference* cannot be used (missing, lacks the field).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator

from evalgate.scorers.registry import Score, Scorer

EXPLANATION_MAX = 199
SHOW_MAX = 60


class Reject(Exception):
    """Ends scoring of one item with `value` (0.0: bad output; None: unusable reference)."""

    def __init__(self, value: float | None, reason: str):
        super().__init__(reason)
        self.value = value
        self.reason = reason


def bad_output(reason: str) -> Reject:
    return Reject(0.0, reason)


def bad_reference(reason: str) -> Reject:
    return Reject(None, reason)


def make_score(value: float | None, explanation: str) -> Score:
    """A Score with a short explanation that is always encodable as UTF-8."""
    explanation = " ".join(explanation.split())
    if len(explanation) > EXPLANATION_MAX:
        explanation = explanation[: EXPLANATION_MAX - 1] + "…"
    # Lone surrogates (from JSON escapes such as "\ud800") cannot be written as UTF-8.
    explanation = explanation.encode("utf-8", "replace").decode("utf-8")
    return Score(value, explanation)


class ItemScorer(Scorer):
    """A scorer that scores each (output, reference, record) on its own via `score_one`."""

    def score(
        self, outputs: Sequence[str], references: Sequence[Any], records: Sequence[dict[str, Any]]
    ) -> list[Score]:
        out = []
        for output, reference, record in zip(outputs, references, records, strict=True):
            try:
                value, explanation = self.score_one(output, reference, record)
            except Reject as rej:
                value, explanation = rej.value, rej.reason
            out.append(make_score(value, explanation))
        return out

    def score_one(self, output: str, reference: Any, record: dict[str, Any]) -> tuple[float | None, str]:
        raise NotImplementedError


# --- text -------------------------------------------------------------------------------

_QUOTE_PAIRS = {
    '"': '"', "'": "'", "`": "`", "“": "”", "‘": "’", "«": "»", "„": "“", "‚": "‘",
    "「": "」", "『": "』",
}
_TRAILING_PUNCT = ".!?;:。"


def normalize_text(text: str) -> str:
    """NFKC, casefold, collapse whitespace, strip, then strip surrounding quotes and trailing
    `.!?;:` (repeatedly, so `"Paris."` and `'Paris'.` both become `paris`)."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    text = " ".join(text.split())
    while True:
        before = text
        text = text.rstrip(_TRAILING_PUNCT).rstrip()
        if len(text) >= 2 and _QUOTE_PAIRS.get(text[0]) == text[-1]:
            text = text[1:-1].strip()
        if text == before:
            return text


def canonical(value: Any) -> str:
    """The canonical JSON text of a value (used to compare non-string values)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def text_of(value: Any) -> str:
    """Strings as they are; any other JSON value as canonical JSON."""
    return value if isinstance(value, str) else canonical(value)


def show(value: Any, limit: int = SHOW_MAX) -> str:
    """A short, quoted rendering of a value for explanations."""
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else repr(value[:limit]) + "…"
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value, with its article: 'an object', 'a list', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- JSON ---------------------------------------------------------------------------------

_FENCE_TAG = re.compile(r"[ \t]*[A-Za-z][\w.+-]*[ \t]*\r?|[ \t]*\r?")
_INLINE_TAG = re.compile(r"\s*json(?=[\s{\[\"])", re.IGNORECASE)


def strip_fence(text: str) -> str:
    """The body of a markdown code fence (```json ... ``` or ``` ... ```) if `text` (already
    stripped) is exactly one fence; otherwise `text` unchanged."""
    if len(text) < 6 or not (text.startswith("```") and text.endswith("```")):
        return text
    inner = text[3:-3]  # may itself contain ``` (inside a JSON string, say)
    first, newline, rest = inner.partition("\n")
    if newline and _FENCE_TAG.fullmatch(first):
        return rest.strip()
    tag = _INLINE_TAG.match(inner)
    return (inner[tag.end():] if tag else inner).strip()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(text: str) -> Any:
    """Parse a model output as JSON (optionally inside one code fence) or raise a 0.0 Reject.

    Strict JSON: NaN/Infinity are rejected. Duplicate keys keep the last value (json.loads)."""
    body = strip_fence(text.strip())
    if not body:
        raise bad_output("not JSON: empty output")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise bad_output(f"not JSON: {exc}") from None
    except (ValueError, RecursionError) as exc:  # NaN, too many digits, nesting too deep
        raise bad_output(f"not JSON: {str(exc) or type(exc).__name__}") from None


# --- fields -------------------------------------------------------------------------------


def _check_path(path: str) -> str:
    if not path or any(not part for part in path.split(".")):
        raise ValueError(f"field path {path!r} must be dot-separated names like 'summary' or 'a.b'")
    return path


FieldPath = Annotated[str, AfterValidator(_check_path)]


class MissingField(Exception):
    pass


def project(data: Any, path: str) -> Any:
    """`data` at a dotted path: object keys, or list indices for all-digit parts ("items.0").
    Raises MissingField with the reason."""
    current = data
    walked: list[str] = []
    for part in path.split("."):
        where = ".".join(walked)
        if isinstance(current, dict):
            if part not in current:
                raise MissingField(f"has no field {path!r}")
            current = current[part]
        elif isinstance(current, list) and part.isascii() and part.isdigit():
            index = int(part)
            if index >= len(current):
                raise MissingField(f"has no field {path!r} (list {where or 'JSON'} has {len(current)} items)")
            current = current[index]
        elif where:
            raise MissingField(f"has no field {path!r} ({where!r} is {json_type(current)})")
        else:
            raise MissingField(f"JSON is {json_type(current)}, not an object")
        walked.append(part)
    return current


def output_field(output: str, path: str) -> Any:
    """The value at `path` in the output's JSON, or a 0.0 Reject."""
    return _field(load_json(output), path, "output")


def reference_data(reference: Any) -> Any:
    """The reference as parsed JSON: dicts/lists as they are, strings parsed; else a None Reject."""
    if reference is None:
        raise bad_reference("no reference")
    if isinstance(reference, str):
        try:
            return json.loads(strip_fence(reference.strip()))
        except (ValueError, RecursionError) as exc:
            raise bad_reference(f"reference is not JSON: {exc}") from None
    return reference


def reference_field(reference: Any, path: str) -> Any:
    """The value at `path` in the reference, or a None Reject."""
    return _field(reference_data(reference), path, "reference")


def _field(data: Any, path: str, side: str) -> Any:
    """`project`, with a missing field rejected as the side's fault (output: 0.0; reference: None)."""
    try:
        return project(data, path)
    except MissingField as exc:
        raise (bad_output if side == "output" else bad_reference)(f"{side} {exc}") from None


def output_text(output: str, field: str | None) -> str:
    """The text a text scorer compares: the whole output, or its JSON field as text."""
    return output if field is None else text_of(output_field(output, field))


def reference_text(reference: Any, field: str | None) -> str:
    """The reference as text: a string as is, a number/boolean as JSON, a field projected;
    an object or list without `field` cannot be compared as text (None)."""
    if field is not None:
        return text_of(reference_field(reference, field))
    if reference is None:
        raise bad_reference("no reference")
    if isinstance(reference, dict | list):
        raise bad_reference(f"reference is {json_type(reference)}; set params.field to pick a field")
    return text_of(reference)


def field_prefix(field: str | None) -> str:
    return f"{field}: " if field else ""
