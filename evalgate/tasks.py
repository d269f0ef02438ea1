"""Evaluation tasks (`tasks/*.yaml`) and their golden sets."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from evalgate.artifacts import sha256_file
from evalgate.errors import ConfigError, InputError
from evalgate.prompts import Message
from evalgate.scorers.registry import Scorer
from evalgate.yamlconf import StrictModel, load_model, read_yaml

_SLUG = r"^[a-z0-9][a-z0-9_\-]*$"


class GenerationSpec(StrictModel):
    """Greedy decoding; a prompt's answer ends at EOS, `max_new_tokens` or the first stop string."""

    max_new_tokens: int = Field(
        128, ge=1, le=8192,
        description="Most tokens generated per answer; an answer cut here counts as truncated (evaluate.warn_truncated_share).",
    )
    stop: list[str] = Field(default_factory=list, description="Stop strings; the answer is cut before the first.")

    @model_validator(mode="after")
    def _nonempty_stops(self) -> GenerationSpec:
        if any(s == "" for s in self.stop):
            raise ValueError("stop strings must not be empty")
        return self


class ScorerEntry(StrictModel):
    scorer: str = Field(description="A registered scorer name (`evalgate scorers` lists them).")
    metric: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$", description="Metric name; defaults to the scorer name.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="The scorer's parameters, validated by its Params model (`evalgate scorers` lists them)."
    )

    @property
    def metric_name(self) -> str:
        return self.metric or self.scorer


class TaskSpec(StrictModel):
    name: str = Field(pattern=_SLUG, description="Slug used in metric names.")
    version: int = Field(1, ge=1, description="Bump when the task changes meaning.")
    description: str = Field(
        "", description="What the task asks; the judge's description of the task when there is no system_prompt."
    )
    golden_set: str = Field(description="JSONL golden set, relative to the repo root.")
    id_field: str = Field(
        "id", description="The golden record's key holding its id (a non-empty string or integer, unique in the set)."
    )
    reference_field: str = Field(
        "reference", description="The golden record's key holding the reference answer the scorers compare with."
    )
    system_prompt: str | None = Field(
        None, description="System message before the rendered user turn (none: no system turn)."
    )
    user_template: str = Field(min_length=1, description="Jinja template over golden-set record fields.")
    generation: GenerationSpec = Field(
        default_factory=GenerationSpec, description="How answers are generated: greedy, up to max_new_tokens, cut at stop strings."
    )
    scorers: list[ScorerEntry] = Field(
        min_length=1, description="The deterministic scorers applied to every answer; each entry yields one metric (task/metric)."
    )
    primary_metric: str | None = Field(None, description="Defaults to the first scorer's metric.")
    rubrics: list[str] = Field(
        default_factory=list, description="Judge rubrics (tasks/rubrics/<name>.yaml) that grade this task's answers."
    )

    @model_validator(mode="after")
    def _metrics_unique(self) -> TaskSpec:
        names = [s.metric_name for s in self.scorers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"metric names must be unique within a task, '{dupes[0]}' repeats; set `metric:` on each entry")
        if self.primary_metric is not None and self.primary_metric not in names:
            raise ValueError(f"primary_metric '{self.primary_metric}' is not one of this task's metrics: {', '.join(names)}")
        return self

    @property
    def primary(self) -> str:
        return self.primary_metric or self.scorers[0].metric_name


@dataclass(frozen=True)
class Task:
    spec: TaskSpec
    source: Path

    @property
    def name(self) -> str:
        return self.spec.name

    @cached_property
    def template(self) -> Any:
        from jinja2 import StrictUndefined, TemplateSyntaxError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        # A task file comes with a data or task pull request: its template may format the record,
        # never reach Python (no `_`-attributes, no mutation, bounded ranges).
        env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
        try:
            tree = env.parse(self.spec.user_template)
        except TemplateSyntaxError as exc:
            raise ConfigError(f"{self.source}: user_template: {exc.message} (template line {exc.lineno})") from None
        found = sorted(private_names(tree), key=lambda f: f[1])
        if found:
            names = ", ".join(f"'{name}' (template line {lineno})" for name, lineno in found)
            raise ConfigError(
                f"{self.source}: user_template: {names} reach into Python internals; a template may read "
                "the record's fields and format them, nothing else: remove them"
            )
        return env.from_string(tree)

    def messages(self, record: dict[str, Any]) -> list[Message]:
        """The prompt messages for one golden-set record (no assistant turn)."""
        from jinja2.exceptions import SecurityError

        try:
            user = self.template.render(**record)
        except SecurityError as exc:
            raise ConfigError(
                f"{self.source}: user_template: {exc} (templates render in a sandbox: they may read the "
                "record's fields, not Python attributes; remove the expression)"
            ) from None
        system: list[Message] = [{"role": "system", "content": self.spec.system_prompt}] if self.spec.system_prompt else []
        return [*system, {"role": "user", "content": user}]


def private_names(tree: Any) -> list[tuple[str, int]]:
    """Attribute and item names in a parsed template that start with `_` (`x.__class__`,
    `x["__globals__"]`): the sandbox refuses them at render time; this names them at load."""
    from jinja2 import nodes

    found = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(name, str) and name.startswith("_"):
            found.append((name, node.lineno))
    return found


@dataclass(frozen=True)
class GoldenItem:
    id: str
    line: int
    record: dict[str, Any]
    messages: list[Message]


def subset(items: list[GoldenItem], limit: int | None) -> list[GoldenItem]:
    """A deterministic subset, stable as the golden set grows: the `limit` ids with the lowest hash."""
    if limit is None or len(items) <= limit:
        return items
    keep = set(sorted(range(len(items)), key=lambda i: hashlib.sha256(items[i].id.encode()).digest())[:limit])
    return [it for i, it in enumerate(items) if i in keep]


def load_tasks(tasks_dir: Path) -> list[Task]:
    if not tasks_dir.is_dir():
        raise ConfigError(f"tasks_dir: {tasks_dir} is not a directory; create it or fix tasks_dir in params.yaml")
    tasks = [Task(load_model(path, TaskSpec), path) for path in sorted(tasks_dir.glob("*.yaml"))]
    seen: dict[str, Path] = {}
    for task in tasks:
        if task.name in seen:
            raise ConfigError(f"{task.source}: name: task '{task.name}' is already defined in {seen[task.name]}")
        seen[task.name] = task.source
    return tasks


def golden_path(task: Task) -> Path:
    path = Path(task.spec.golden_set)
    if not path.is_file():
        raise InputError(f"{task.source}: golden_set: {path} does not exist")
    return path


def golden_sha256(task: Task) -> str:
    return sha256_file(golden_path(task))


def load_golden(task: Task) -> list[GoldenItem]:
    """Read and render a task's golden set; every bad line is reported at once."""
    path = golden_path(task)
    items: list[GoldenItem] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    from jinja2 import UndefinedError

    with open(path, encoding="utf-8", errors="strict") as fh:
        try:
            lines = list(enumerate(fh, start=1))
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not valid UTF-8 (byte offset {exc.start})") from None
    for lineno, text in lines:
        if not text.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(record, dict):
            problems.append(f"{where}: record must be a JSON object")
            continue
        item_id = record.get(task.spec.id_field)
        if not isinstance(item_id, str | int) or isinstance(item_id, bool) or str(item_id).strip() == "":
            problems.append(f"{where}: missing or invalid '{task.spec.id_field}' (a non-empty string or integer)")
            continue
        item_id = str(item_id)
        if item_id in seen:
            problems.append(f"{where}: duplicate id '{item_id}' (first at line {seen[item_id]})")
            continue
        seen[item_id] = lineno
        try:
            messages = task.messages(record)
        except UndefinedError as exc:
            problems.append(f"{where}: {task.source} user_template: {exc.message}")
            continue
        items.append(GoldenItem(item_id, lineno, record, messages))
    if problems:
        raise InputError("\n".join(problems))
    if not items:
        raise InputError(f"{path}: golden set is empty")
    return items


def build_scorers(task: Task) -> list[tuple[ScorerEntry, Scorer]]:
    """The task's scorers, built and validated; errors name the task file, line and key."""
    from evalgate.scorers import build

    _, lines = read_yaml(task.source)
    built = []
    problems: list[str] = []
    for i, entry in enumerate(task.spec.scorers):
        where = f"{task.source}:{lines.get(('scorers', i, 'scorer'), lines.get(('scorers', i), 1))}"
        try:
            scorer = build(
                entry.scorer,
                entry.params,
                source=str(task.source),
                lines={k[3:]: v for k, v in lines.items() if k[:3] == ("scorers", i, "params")},
            )
        except ConfigError as exc:
            msg = str(exc)
            if msg.startswith("unknown scorer"):
                problems.append(f"{where}: scorers[{i}].scorer: {msg}")
                continue
            # `file:line: key: problem` from the params model; make the key a path in the task file.
            prefix = re.escape(str(task.source))
            fixed = [
                re.sub(rf"^({prefix}(?::\d+)?): ", rf"\1: scorers[{i}].params.", line) for line in msg.splitlines()
            ]
            problems += fixed
            continue
        built.append((entry, scorer))
    if problems:
        raise ConfigError("\n".join(problems))
    return built


def template_fields(task: Task) -> set[str]:
    from jinja2 import meta

    return set(meta.find_undeclared_variables(task.template.environment.parse(task.spec.user_template)))


def check_task(task: Task) -> tuple[str, list[str]]:
    """Every problem of one task (template fields, scorers, golden set), and a summary line."""
    problems: list[str] = []
    try:
        build_scorers(task)
    except ConfigError as exc:
        problems += str(exc).splitlines()
    try:
        path = golden_path(task)
    except InputError as exc:
        return "", [*problems, str(exc)]
    keys: set[str] = set()
    n = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for text in fh:
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                keys |= set(record)
                n += 1
    _, lines = read_yaml(task.source)
    where = f"{task.source}:{lines.get(('user_template',), 1)}"
    for name in sorted(template_fields(task) - keys):
        close = difflib.get_close_matches(name, sorted(keys), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        problems.append(
            f"{where}: user_template: field '{name}' is not in any record of {path}; {hint}fields: {', '.join(sorted(keys))}"
        )
    if n and task.spec.reference_field not in keys:
        problems.append(
            f"{task.source}: reference_field: '{task.spec.reference_field}' is not in any record of {path}"
        )
    if not problems:
        try:
            items = load_golden(task)
        except InputError as exc:
            problems += str(exc).splitlines()
        else:
            return f"ok  {task.name}: {len(items)} items, {len(task.spec.scorers)} scorers, primary {task.spec.primary}", []
    return "", problems


def validate_tasks(tasks_dir: Path) -> tuple[list[str], list[str]]:
    """Check every task file independently, so one run reports all problems."""
    if not tasks_dir.is_dir():
        raise ConfigError(f"tasks_dir: {tasks_dir} is not a directory; create it or fix tasks_dir in params.yaml")
    report: list[str] = []
    problems: list[str] = []
    names: dict[str, Path] = {}
    files = sorted(tasks_dir.glob("*.yaml"))
    if not files:
        problems.append(f"{tasks_dir}: no *.yaml task files")
    for path in files:
        try:
            task = Task(load_model(path, TaskSpec), path)
            task.template  # noqa: B018  (syntax errors surface here)
        except ConfigError as exc:
            problems += str(exc).splitlines()
            continue
        if task.name in names:
            problems.append(f"{path}: name: task '{task.name}' is already defined in {names[task.name]}")
        names[task.name] = path
        line, found = check_task(task)
        problems += found
        if line:
            report.append(line)
    return report, problems
