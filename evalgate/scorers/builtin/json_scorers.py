"""JSON scorers: json_valid, json_schema, json_field_match.

Model outputs are parsed by `load_json`: surrounding whitespace and one markdown code fence
(```json ... ``` or ``` ... ```) are allowed, nothing else: JSON is not hunted for inside prose.
Parsing is strict (NaN/Infinity are invalid). Duplicate keys are accepted and the last one wins,
as with `json.loads`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Self

import yaml
from jsonschema import Draft202012Validator, SchemaError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from pydantic import Field, field_validator, model_validator

from evalgate.errors import first_line
from evalgate.scorers.builtin._common import (
    FieldPath,
    ItemScorer,
    bad_output,
    bad_reference,
    json_type,
    load_json,
    normalize_text,
    output_field,
    reference_field,
    show,
    text_of,
)
from evalgate.scorers.registry import scorer
from evalgate.yamlconf import StrictModel


@scorer("json_valid", higher_is_better=True, binary=True)
class JsonValid(ItemScorer):
    """1.0 when the output is one JSON value (optionally inside a code fence)."""

    def score_one(self, output: str, reference: Any, record: dict[str, Any]) -> tuple[float, str]:
        value = load_json(output)
        return 1.0, f"valid JSON ({json_type(value)})"


def _check_schema(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict):
        raise ValueError(f"a JSON schema must be an object, not {json_type(schema)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # unknown $schema: latest draft
            cls = validator_for(schema, default=Draft202012Validator)
        cls.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"invalid JSON schema at {exc.json_path}: {exc.message}") from None
    return schema


def _read_schema(path: str) -> dict[str, Any]:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read schema file {path!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"schema file {path!r} is not UTF-8") from None
    try:
        if file.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"schema file {path!r} is not valid: {first_line(exc)}") from None
    return _check_schema(data)


with warnings.catch_warnings():
    # A field named `schema` shadows the deprecated BaseModel.schema(); harmless here.
    warnings.filterwarnings("ignore", message=".*shadows an attribute in parent", category=UserWarning)

    class _SchemaParams(StrictModel):
        schema: dict[str, Any] | None = Field(None, description="The JSON schema, inline.")
        schema_path: str | None = Field(
            None, description="A .json/.yaml file with the schema (relative to the working directory)."
        )

        @field_validator("schema")
        @classmethod
        def _valid_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
            return None if schema is None else _check_schema(schema)

        @field_validator("schema_path")
        @classmethod
        def _valid_schema_file(cls, path: str | None) -> str | None:
            if path is not None:
                _read_schema(path)
            return path

        @model_validator(mode="after")
        def _exactly_one(self) -> Self:
            if (self.schema is None) == (self.schema_path is None):
                raise ValueError("set exactly one of schema and schema_path")
            return self


@scorer("json_schema", higher_is_better=True, binary=True)
class JsonSchema(ItemScorer):
    """1.0 when the output is JSON that validates against the schema. The validator follows
    the schema's $schema (default Draft 2020-12); `format` is checked. The explanation names
    the most relevant failure (jsonschema's best_match) and its JSON path."""

    Params = _SchemaParams

    def __init__(self, params: _SchemaParams):
        super().__init__(params)
        schema = params.schema if params.schema is not None else _read_schema(params.schema_path or "")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            cls = validator_for(schema, default=Draft202012Validator)
        self._validator = cls(schema, format_checker=cls.FORMAT_CHECKER)

    def score_one(self, output: str, reference: Any, record: dict[str, Any]) -> tuple[float | None, str]:
        instance = load_json(output)
        try:
            errors = list(self._validator.iter_errors(instance))
        except Exception as exc:  # e.g. an unresolvable $ref: the schema's fault, not the output's
            raise bad_reference(f"schema could not be applied: {first_line(exc)}") from None
        if not errors:
            return 1.0, "valid against schema"
        error = best_match(errors)
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        message = error.message if len(error.message) <= 120 else error.message[:119] + "…"
        return 0.0, f"{error.json_path}: {message}{more}"


def _strict_equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans are not numbers, 1 == 1.0, objects compare key by key."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_strict_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _loose_form(value: Any) -> str:
    """The normalised text of a value: strings normalised, whole floats without '.0'."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return normalize_text(text_of(value))


@scorer("json_field_match", higher_is_better=True, binary=True)
class JsonFieldMatch(ItemScorer):
    """1.0 when the output JSON's `field` equals the reference's. With normalize (default),
    both are compared as normalised text, so 1 matches "1" and "Billing " matches "billing";
    without it, JSON values must be equal (1 == 1.0, but 1 != "1" and true != 1). null only
    matches null. A missing reference field is unscorable (None)."""

    class Params(StrictModel):
        field: FieldPath = Field(description="Dotted path of the field, e.g. 'category' or 'a.b'.")
        normalize: bool = True

    def score_one(self, output: str, reference: Any, record: dict[str, Any]) -> tuple[float, str]:
        p = self.params
        expected = reference_field(reference, p.field)
        got = output_field(output, p.field)
        if got is None or expected is None:
            same = got is None and expected is None
        elif p.normalize:
            same = _loose_form(got) == _loose_form(expected)
        else:
            same = _strict_equal(got, expected)
        if same:
            return 1.0, f"{p.field}: match ({show(got, 40)})"
        raise bad_output(f"{p.field}: got {show(got)}, expected {show(expected)}")
