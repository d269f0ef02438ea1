"""String scorers: exact_match, contains, regex_match, regex_extract, length."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from evalgate.scorers.builtin._common import (
    FieldPath,
    ItemScorer,
    bad_output,
    bad_reference,
    field_prefix,
    normalize_text,
    output_text,
    reference_text,
    show,
)
from evalgate.scorers.registry import scorer
from evalgate.yamlconf import StrictModel

RegexFlag = Literal["IGNORECASE", "MULTILINE", "DOTALL"]


def _flags(names: list[RegexFlag]) -> int:
    value = 0
    for name in names:
        value |= getattr(re, name)
    return value


def _compile(pattern: str, flags: list[RegexFlag]) -> re.Pattern[str]:
    try:
        return re.compile(pattern, _flags(flags))
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None


@scorer("exact_match", higher_is_better=True, binary=True)
class ExactMatch(ItemScorer):
    """1.0 when the output equals the reference (after normalisation, by default)."""

    class Params(StrictModel):
        normalize: bool = Field(True, description="NFKC, casefold, collapse whitespace, strip quotes and trailing .!?;:")
        field: FieldPath | None = Field(None, description="Compare this JSON field of output and reference.")

    def score_one(self, output: str, reference: Any, record: dict[str, Any]) -> tuple[float, str]:
        p = self.params
        expected = reference_text(reference, p.field)
        got = output_text(output, p.field)
        if p.normalize:
            expected, got = normalize_text(expected), normalize_text(got)
        prefix = field_prefix(p.field)
        if got == expected:
            return 1.0, f"{prefix}exact match"
        return 0.0, f"{prefix}got {show(got)}, expected {show(expected)}"


def _fold(text: str, case_sensitive: bool) -> str:
    text = " ".join(text.split())
    return text if case_sensitive else unicodedata.normalize("NFKC", text).casefold()


@scorer("contains", higher_is_better=True, binary=True)
class Contains(ItemScorer):
    """1.0 when the output contains `value` (or, without `value`, the reference). Whitespace
    runs count as one space; unless case_sensitive, both sides are NFKC-normalised and casefolded."""

    class Params(StrictModel):
        value: str | None = Field(None, min_length=1, description="The text to look for; default: the reference.")
        case_sensitive: bool = False
        field: FieldPath | None = Field(None, description="Look in this JSON field of the output (and reference).")

    def score_one(self, output: str, reference: Any, record: dict[str, Any]) -> tuple[float, str]:
        p = self.params
        needle = p.value if p.value is not None else reference_text(reference, p.field)
        if not needle.strip():
            raise bad_reference("reference is empty")
        haystack = output_text(output, p.field)
        prefix = field_prefix(p.field)
        if _fold(needle, p.case_sensitive) in _fold(haystack, p.case_sensitive):
            return 1.0, f"{prefix}contains {show(needle)}"
        return 0.0, f"{prefix}does not contain {show(needle)}"


class _RegexParams(StrictModel):
    _GROUPS: ClassVar[int | None] = None  # the number of capture groups required, if any

    pattern: str = Field(description="A Python regular expression.")
    flags: list[RegexFlag] = Field(default_factory=list)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        groups = _compile(pattern, []).groups
        if cls._GROUPS is not None and groups != cls._GROUPS:
            raise ValueError(
                f"pattern {pattern!r} must have exactly {cls._GROUPS} capture group, it has {groups}"
            )
        return pattern


@scorer("regex_match", higher_is_better=True, binary=True)
class RegexMatch(ItemScorer):
    """1.0 when `pattern` matches the output: anywhere (re.search) or, with full, all of it."""

    class Params(_RegexParams):
        full: bool = Field(False, description="Require the whole output to match (re.fullmatch).")

    def __init__(self, params: Params):
        super().__init__(params)
        self._regex = _compile(params.pattern, params.flags)

    def score_one(self, output: str, reference: Any, record: dict[str, Any]) -> tuple[float, str]:
        how = "fully match" if self.params.full else "match"
        m = self._regex.fullmatch(output) if self.params.full else self._regex.search(output)
        if m is None:
            return 0.0, f"does not {how} pattern {show(self.params.pattern)}"
        return 1.0, f"matched {show(m.group(0), 40)}"


@scorer("regex_extract", higher_is_better=True, binary=True)
class RegexExtract(ItemScorer):
    """Extract the pattern's one capture group from the first match in the output and compare
    it with the reference (or the reference's `field`), normalised by default."""

    class Params(_RegexParams):
        _GROUPS: ClassVar[int | None] = 1

        normalize: bool = True
        field: FieldPath | None = Field(None, description="Compare with this field of the reference.")

    def __init__(self, params: Params):
        super().__init__(params)
        self._regex = _compile(params.pattern, params.flags)

    def score_one(self, output: str, reference: Any, record: dict[str, Any]) -> tuple[float, str]:
        p = self.params
        expected = reference_text(reference, p.field)
        m = self._regex.search(output)
        if m is None:
            raise bad_output("no match for pattern")
        got = m.group(1)
        if got is None:
            raise bad_output("pattern matched but its group did not take part")
        if p.normalize:
            expected, got = normalize_text(expected), normalize_text(got)
        if got == expected:
            return 1.0, f"extracted {show(got)}: match"
        return 0.0, f"extracted {show(got)}, expected {show(expected)}"


_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")


def count_sentences(text: str) -> int:
    """Sentences end at a run of `.!?` followed by whitespace or the end; so `3.5` does not
    split. Abbreviations ("e.g. this") and unpunctuated sentences are not handled."""
    return sum(1 for part in _SENTENCE_END.split(text) if part.strip())


@scorer("length", higher_is_better=True, binary=True)
class Length(ItemScorer):
    """1.0 when the stripped output is within every limit set. Words are whitespace-separated;
    characters are code points."""

    class Params(StrictModel):
        min_chars: int | None = Field(None, ge=0)
        max_chars: int | None = Field(None, ge=0)
        min_words: int | None = Field(None, ge=0)
        max_words: int | None = Field(None, ge=0)
        max_sentences: int | None = Field(None, ge=0)

        @model_validator(mode="after")
        def _limits(self) -> Self:
            if all(v is None for v in self.model_dump().values()):
                raise ValueError(
                    "set at least one of min_chars, max_chars, min_words, max_words, max_sentences"
                )
            for unit in ("chars", "words"):
                lo, hi = getattr(self, f"min_{unit}"), getattr(self, f"max_{unit}")
                if lo is not None and hi is not None and lo > hi:
                    raise ValueError(f"min_{unit} ({lo}) is greater than max_{unit} ({hi})")
            return self

    def score_one(self, output: str, reference: Any, record: dict[str, Any]) -> tuple[float, str]:
        p = self.params
        text = output.strip()
        counts = {"chars": len(text), "words": len(text.split()), "sentences": count_sentences(text)}
        checks = [
            ("chars", p.min_chars, "<", "min"),
            ("chars", p.max_chars, ">", "max"),
            ("words", p.min_words, "<", "min"),
            ("words", p.max_words, ">", "max"),
            ("sentences", p.max_sentences, ">", "max"),
        ]
        for unit, limit, op, kind in checks:
            if limit is None:
                continue
            n = counts[unit]
            if (op == "<" and n < limit) or (op == ">" and n > limit):
                raise bad_output(f"{_count(n, unit)} {op} {kind} {limit}")
        used = [u for u, limit, _, _ in checks if limit is not None]
        return 1.0, "within limits: " + ", ".join(_count(counts[u], u) for u in dict.fromkeys(used))


def _count(n: int, unit: str) -> str:
    return f"{n} {unit[:-1] if n == 1 else unit}"
