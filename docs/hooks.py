"""MkDocs hook: the reference pages are generated from the code at every build.

A page holds a marker such as `<!-- evalgate:params -->`; this hook replaces it with tables
built from the pydantic models (field, type, default, constraints, description) or with the
CLI's own help, taken from click's command tree. A field without a description, or an unknown
marker, fails the build: the reference cannot go stale or silently grow an undocumented key.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

MARKER = re.compile(r"<!-- evalgate:([a-z_]+) -->")


class UndocumentedFields(ValueError):
    """Fields that have no description; every one is named, with its model."""


# ------------------------------------------------------------------------------ rendering


def _code(text: str) -> str:
    text = str(text)
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell(text: str) -> str:
    """Table-cell safe: one line, pipes escaped; outside code spans, `<`, `>`, `&` and `*` are
    text (a description's `judge:<task>/<criterion>` is not an HTML tag)."""
    pieces = re.split(r"(`[^`]*`)", " ".join(str(text).split()))
    for i in range(0, len(pieces), 2):
        pieces[i] = (
            pieces[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*").replace("|", "\\|")
        )
    return "".join(pieces)  # a pipe inside a code span does not split a Python-Markdown cell


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def type_name(annotation: Any, anchor: Callable[[type[BaseModel]], str] | None = None) -> str:
    """A reader's name for a field's type: `integer`, `list of strings`, `one of a, b`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if origin is Literal:
        return "one of " + ", ".join(_code(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a, anchor) for a in args)
    if origin is list:
        inner = type_name(args[0], anchor) if args else "any"
        return f"list of {_PLURAL.get(inner, inner)}"
    if origin is dict:
        key, value = (type_name(a, anchor) for a in args) if args else ("any", "any")
        return f"map of {key} to {value}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[section]({anchor(annotation)})" if anchor else "section"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


_PLURAL = {"string": "strings", "integer": "integers", "number": "numbers", "boolean": "booleans"}


def _value(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "defaults below"
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return _code(value) if value else '`""`'
    if isinstance(value, list | dict):
        return _code(json.dumps(value, ensure_ascii=False))
    return _code(repr(value))


def default_of(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return _value(field.default_factory())  # type: ignore[call-arg]
    return _value(field.default)


def constraints_of(field: FieldInfo) -> str:
    """`≥ 0`, `< 1`, `at least 1 item`, a pattern: the bounds validation enforces."""
    out = []
    words = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    for meta in field.metadata:
        for attr, word in words.items():
            bound = getattr(meta, attr, None)
            if bound is not None:
                out.append(f"{word} {bound:g}" if isinstance(bound, int | float) else f"{word} {bound}")
        if getattr(meta, "min_length", None) is not None:
            out.append(f"length ≥ {meta.min_length}")
        if getattr(meta, "pattern", None) is not None:
            out.append(f"pattern {_code(meta.pattern)}")
    return ", ".join(out)


# ------------------------------------------------------------------------------ models


@dataclasses.dataclass
class Section:
    path: str  # "prepare.near_dedup", "gate.checks[]"; "" for the top level
    model: type[BaseModel]


def sections(model: type[BaseModel], path: str = "") -> list[Section]:
    """`model` and every model nested in its fields (depth first, in field order)."""
    out = [Section(path, model)]
    for name, field in model.model_fields.items():
        for sub in _models_in(field.annotation):
            origin = typing.get_origin(field.annotation)
            suffix = "[]" if origin is list or list in map(typing.get_origin, typing.get_args(field.annotation)) else ""
            if origin is dict:
                suffix = ".<name>"
            out += sections(sub, f"{path}.{name}{suffix}" if path else f"{name}{suffix}")
    return out


def undocumented(model: type[BaseModel], label: str) -> list[str]:
    missing = []
    for section in sections(model):
        for name, field in section.model.model_fields.items():
            if not (field.description or "").strip():
                key = f"{section.path}.{name}" if section.path else name
                missing.append(f"{label}: {key} ({section.model.__name__}.{name})")
    return missing


def model_reference(model: type[BaseModel], label: str, slug: str, level: int = 3) -> str:
    """Markdown tables of every field of `model` and its nested models. Raises
    UndocumentedFields naming every field without a description."""
    missing = undocumented(model, label)
    if missing:
        raise UndocumentedFields(
            f"{len(missing)} field(s) without a description (add `description=` to the Field): " + "; ".join(missing)
        )
    found = sections(model)
    ids = [f"{slug}-{s.path.replace('.', '-').replace('[]', '').replace('<name>', 'name') or 'top'}" for s in found]
    first: dict[type[BaseModel], str] = {}
    for s, id_ in zip(found, ids, strict=True):
        first.setdefault(s.model, id_)

    def anchor(m: type[BaseModel]) -> str:
        return f"#{first[m]}"

    parts = []
    for s, id_ in zip(found, ids, strict=True):
        title = f"`{s.path}`" if s.path else f"{label}: top level"
        parts.append(f"{'#' * level} {title} {{#{id_}}}\n")
        parts.append("| key | type | default | what it does |\n|---|---|---|---|")
        for name, field in s.model.model_fields.items():
            limits = constraints_of(field)
            text = _cell(field.description or "") + (f" *({_cell(limits)})*" if limits else "")
            parts.append(f"| `{name}` | {_cell(type_name(field.annotation, anchor))} | {_cell(default_of(field))} | {text} |")
        parts.append("")
    return "\n".join(parts)


def dataclass_reference(cls: type, label: str) -> str:
    """A table of a dataclass's fields that are keys of the file it is read from, each with its
    `description` metadata; a field without one fails like a model's."""
    hints = typing.get_type_hints(cls)
    rows, missing = [], []
    for f in dataclasses.fields(cls):
        text = (f.metadata.get("description") or "").strip()
        if not text:
            missing.append(f"{label}: {f.name} ({cls.__name__}.{f.name})")
        if f.metadata.get("key", True):
            rows.append(f"| `{f.name}` | {_cell(type_name(hints[f.name]))} | required | {_cell(text)} |")
    if missing:
        raise UndocumentedFields(f"{len(missing)} field(s) without a description: " + "; ".join(missing))
    return "| key | type | default | what it is |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"


def params_reference() -> str:
    from evalgate.config import Params

    return model_reference(Params, "params.yaml", "params")


def tasks_reference() -> str:
    from evalgate.tasks import TaskSpec

    return model_reference(TaskSpec, "tasks/*.yaml", "task")


def rubrics_reference() -> str:
    from evalgate.judging.rubric import RubricSpec

    return model_reference(RubricSpec, "tasks/rubrics/*.yaml", "rubric")


def calibration_reference() -> str:
    from evalgate.stages.judge import CalibrationRow

    return dataclass_reference(CalibrationRow, "judge calibration row")


# ------------------------------------------------------------------------------ the CLI


def cli_reference(level: int = 3) -> str:
    """Every command's help, as `evalgate <command> --help` prints it, from click's command tree
    (typer's own copy of click: groups are recognised by what they do, not by class)."""
    import typer.main

    from evalgate.cli import app

    root = typer.main.get_command(app)
    parts: list[str] = []

    def walk(cmd: Any, name: str, parent: Any) -> None:
        ctx = cmd.context_class(cmd, info_name=name, parent=parent, terminal_width=100, max_content_width=100)
        title = ctx.command_path
        parts.append(f"{'#' * level} `{title}` {{#{title.replace(' ', '-')}}}\n")
        parts.append("```text\n" + cmd.get_help(ctx).rstrip() + "\n```\n")
        if hasattr(cmd, "list_commands"):
            for sub_name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, sub_name)
                if sub is not None and not sub.hidden:
                    walk(sub, sub_name, ctx)

    walk(root, "evalgate", None)
    return "\n".join(parts)


GENERATORS: dict[str, Callable[[], str]] = {
    "params": params_reference,
    "tasks": tasks_reference,
    "rubrics": rubrics_reference,
    "calibration": calibration_reference,
    "cli": cli_reference,
}


def render(markdown: str, where: str = "page") -> str:
    """`markdown` with every marker replaced by its generated reference."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise UndocumentedFields(f"{where}: unknown marker evalgate:{name} (known: {', '.join(GENERATORS)})")
        return GENERATORS[name]()

    return MARKER.sub(one, markdown)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    from mkdocs.exceptions import PluginError

    try:
        return render(markdown, page.file.src_path)
    except UndocumentedFields as exc:
        raise PluginError(f"{page.file.src_path}: {exc}") from None
