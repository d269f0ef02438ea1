"""numeric: the first number in the output, compared with the reference number."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from pydantic import Field

from evalgate.scorers.builtin._common import (
    FieldPath,
    ItemScorer,
    bad_output,
    bad_reference,
    field_prefix,
    output_field,
    reference_data,
    reference_field,
    show,
)
from evalgate.scorers.registry import scorer
from evalgate.yamlconf import StrictModel

# A sign only where it cannot be a hyphen inside a word ("COVID-19" gives 19); thousands
# separators only in complete groups of three ("1,234.5"); optional fraction and exponent.
NUMBER = re.compile(
    r"""
    (?: (?<![\w.]) [-+] )?                         # sign, unless a hyphen after a word
    (?<![\d.])                                     # never start inside a number
    (?: \d{1,3} (?: ,\d{3} )+ (?!\d) (?: \.\d+ )?  # 1,234 / 1,234.5
      | \d+ (?: \.\d+ )?                           # 42 / 3.5
      | \.\d+                                      # .5
    )
    (?: [eE] [-+]? \d+ )?                          # 1e3 / 2.5E-4
    """,
    re.VERBOSE,
)


def _prepare(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace("\u2212", "-")  # U+2212 MINUS SIGN


def first_number(text: str) -> float | None:
    """The first number in `text` (-3.5, 1,234.5, 1e3, .5), or None."""
    m = NUMBER.search(_prepare(text))
    return None if m is None else _to_float(m.group(0))


def _to_float(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:  # the pattern only matches float syntax; be safe with odd digits
        return None


def _as_number(value: Any) -> float | None:
    """A JSON number, or a string that is exactly one number; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = _prepare(value).strip()
        if NUMBER.fullmatch(text):
            return _to_float(text)
    return None


def _whole_reference(reference: Any) -> Any:
    """The whole reference: a number, or a string (not parsed as JSON); None is unusable."""
    if reference is None:
        raise bad_reference("no reference")
    return reference if isinstance(reference, str | int | float) else reference_data(reference)


def fmt(x: float) -> str:
    return str(int(x)) if x.is_integer() and abs(x) < 1e16 else repr(x)


@scorer("numeric", higher_is_better=True, binary=True)
class Numeric(ItemScorer):
    """1.0 when the first number in the output is close to the reference number
    (math.isclose with abs_tol and rel_tol; both 0 means exactly equal)."""

    class Params(StrictModel):
        abs_tol: float = Field(0.0, ge=0.0, allow_inf_nan=False)
        rel_tol: float = Field(0.0, ge=0.0, allow_inf_nan=False)
        field: FieldPath | None = Field(None, description="Use this JSON field of output and reference.")

    def score_one(self, output: str, reference: Any, record: dict[str, Any]) -> tuple[float, str]:
        p = self.params
        expected_raw = reference_field(reference, p.field) if p.field else _whole_reference(reference)
        expected = _as_number(expected_raw)
        if expected is None:
            raise bad_reference(f"reference is not a number: {show(expected_raw)}")
        prefix = field_prefix(p.field)
        if p.field is None:
            got = first_number(output)
            if got is None:
                raise bad_output("no number in output")
        else:
            value = output_field(output, p.field)
            if isinstance(value, str):
                got = first_number(value)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                got = float(value)
            else:
                got = None
            if got is None:
                raise bad_output(f"{prefix}no number in {show(value, 40)}")
        if math.isclose(got, expected, rel_tol=p.rel_tol, abs_tol=p.abs_tol):
            return 1.0, f"{prefix}got {fmt(got)}, expected {fmt(expected)}: match"
        tol = f" (abs_tol={p.abs_tol:g}, rel_tol={p.rel_tol:g})" if p.abs_tol or p.rel_tol else ""
        return 0.0, f"{prefix}got {fmt(got)}, expected {fmt(expected)}{tol}"

