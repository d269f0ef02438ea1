"""Load YAML into strict pydantic models, naming file, line, key path and fix on any error."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from evalgate.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every configuration model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _line_index(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*path, key), out)
            out[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), out)


def read_yaml(path: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse a YAML file; return the data and a map from key path to 1-based line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 (byte offset {exc.start})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _line_index(node, (), lines)
    return data, lines


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the mapping at `loc`, if it can be followed."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def format_validation_error(
    source: str, exc: ValidationError, model: type[BaseModel], lines: dict[tuple[Any, ...], int]
) -> str:
    """One line per problem: `file:line: key.path: what is wrong (got X); fix`."""
    messages = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line = lines.get(loc) or next(
            (lines[loc[:i]] for i in range(len(loc) - 1, -1, -1) if loc[:i] in lines), None
        )
        where = f"{source}:{line}" if line else source
        key = _dotted(loc)
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, loc[:-1])
            allowed = sorted(owner.model_fields) if owner else []
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            messages.append(
                f"{where}: {key}: unknown key; {hint}allowed keys: {', '.join(allowed)}"
            )
            continue
        if err["type"] == "missing":
            messages.append(f"{where}: {key}: required key is missing; add it")
            continue
        got = err.get("input")
        shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        msg = err["msg"].removeprefix("Value error, ")
        messages.append(f"{where}: {key}: {msg[0].lower()}{msg[1:]} (got {shown})")
    return "\n".join(messages)


def load_model(path: Path, model: type[M], *, section: str | None = None) -> M:
    """Read `path` (optionally one top-level `section`) into `model`, or raise ConfigError."""
    data, lines = read_yaml(path)
    if data is None:
        data = {}
    if section is not None:
        if not isinstance(data, dict):
            raise ConfigError(f"{path}:1: expected a mapping at the top level")
        data = data.get(section, {})
        lines = {k[1:]: v for k, v in lines.items() if k[:1] == (section,)}
    return validate_data(str(path), data, model, lines)


def validate_data(
    source: str, data: Any, model: type[M], lines: dict[tuple[Any, ...], int] | None = None
) -> M:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: expected a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc, model, lines or {})) from None
