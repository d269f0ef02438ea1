"""Evaluation tasks (`tasks/*.yaml`) and their golden sets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from evalgate.artifacts import sha256_file
from evalgate.errors import ConfigError, InputError
from evalgate.prompts import Message
from evalgate.yamlconf import StrictModel, load_model


_SLUG = r"^[a-z0-9][a-z0-9_\-]*$"


class GenerationSpec(StrictModel):
    """Greedy decoding; a prompt's answer ends at EOS, `max_new_tokens` or the first stop string."""

    max_new_tokens: int = Field(128, ge=1, le=8192)
    stop: list[str] = Field(default_factory=list, description="Stop strings; the answer is cut before the first.")

    @model_validator(mode="after")
    def _nonempty_stops(self) -> GenerationSpec:
        if any(s == "" for s in self.stop):
            raise ValueError("stop strings must not be empty")
        return self


class ScorerEntry(StrictModel):
    scorer: str = Field(description="A registered scorer name (`evalgate scorers` lists them).")
    metric: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$", description="Metric name; defaults to the scorer name.")
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def metric_name(self) -> str:
        return self.metric or self.scorer


class TaskSpec(StrictModel):
    name: str = Field(pattern=_SLUG, description="Slug used in metric names.")
    version: int = Field(1, ge=1, description="Bump when the task changes meaning.")
    description: str = ""
    golden_set: str = Field(description="JSONL golden set, relative to the repo root.")
    id_field: str = "id"
    reference_field: str = "reference"
    system_prompt: str | None = None
    user_template: str = Field(min_length=1, description="Jinja template over golden-set record fields.")
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    scorers: list[ScorerEntry] = Field(min_length=1)
    primary_metric: str | None = Field(None, description="Defaults to the first scorer's metric.")

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
        from jinja2 import Environment, StrictUndefined, TemplateSyntaxError

        env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
        try:
            return env.from_string(self.spec.user_template)
        except TemplateSyntaxError as exc:
            raise ConfigError(f"{self.source}: user_template: {exc.message} (template line {exc.lineno})") from None

    def messages(self, record: dict[str, Any]) -> list[Message]:
        """The prompt messages for one golden-set record (no assistant turn)."""
        user = self.template.render(**record)
        system: list[Message] = [{"role": "system", "content": self.spec.system_prompt}] if self.spec.system_prompt else []
        return [*system, {"role": "user", "content": user}]


@dataclass(frozen=True)
class GoldenItem:
    id: str
    line: int
    record: dict[str, Any]
    messages: list[Message]


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
