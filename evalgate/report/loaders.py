"""Everything the report reads, loaded once and hashed.

Two inputs are required (evaluate's metrics file and the per-item scores behind it); a missing
or stale one is a one-line error. Every other input is optional: when it is absent or unusable
the report says so in a note instead of showing a number it does not have.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from evalgate.artifacts import sha256_file
from evalgate.config import GateCheck, Params
from evalgate.contract import (
    PATHS,
    PrepareManifest,
    PrepareMetrics,
    PrepareReport,
    ScoredStage,
    TrainMeta,
    TrainMetrics,
    parse,
    read_predictions,
    read_scored_stage,
)
from evalgate.errors import EvalgateError, InputError
from evalgate.stages.gate import read_verdict

SIDES = ("base", "candidate")


@dataclass
class GateState:
    """The recorded verdict, or why there is none to show."""

    state: str  # "pass" | "fail" | "not run" | "unusable"
    report: dict[str, Any] | None
    problem: str | None = None


@dataclass
class GoldenItemView:
    """What an analyst needs to read one item: the prompt as the model saw it and the reference."""

    messages: list[dict[str, str]]
    reference: Any


@dataclass
class Promoted:
    entry: dict[str, Any]
    scores: dict[tuple[str, str], dict[str, float]]  # (task, metric) -> id -> promoted candidate score


@dataclass
class Inputs:
    root: Path
    params: Params
    eval: ScoredStage
    gate: GateState
    policy: list[GateCheck]
    predictions: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)  # side -> (task, id)
    golden: dict[str, dict[str, GoldenItemView]] = field(default_factory=dict)  # task -> id -> item
    promoted: Promoted | None = None
    judge: dict[str, Any] | None = None
    judge_rows: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)  # (task, id) -> rows
    forgetting: dict[str, Any] | None = None
    train_metrics: dict[str, Any] | None = None
    train_meta: dict[str, Any] | None = None
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # series name -> (step, loss)
    manifest: dict[str, Any] | None = None
    prepare_report: dict[str, Any] | None = None
    prepare_metrics: dict[str, Any] | None = None
    rejects: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # every file read -> sha256
    notes: dict[str, str] = field(default_factory=dict)  # panel -> why it is empty or partial

    def note(self, panel: str, text: str) -> None:
        self.notes[panel] = f"{self.notes[panel]}; {text}" if panel in self.notes else text

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def record(self, path: Path) -> None:
        self.files[self.rel(path)] = sha256_file(path)


def _json(inputs: Inputs, path: Path, panel: str, model: type[BaseModel] | None = None) -> dict[str, Any] | None:
    """An optional JSON input: None (and a note) when absent, unreadable, or not the contract's
    `model` (evalgate.contract) when one is given."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        inputs.note(panel, f"{inputs.rel(path)} is unreadable ({exc}); not shown")
        return None
    if not isinstance(data, dict):
        inputs.note(panel, f"{inputs.rel(path)} is not a JSON object; not shown")
        return None
    if model is not None:
        try:
            parse(model, data, path, rewrite="not shown")
        except InputError as exc:
            inputs.note(panel, str(exc).replace(str(path), inputs.rel(path)))
            return None
    inputs.record(path)
    return data


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if isinstance(row, dict):
                    rows.append(row)
    return rows


def _curve(path: Path, column: str) -> list[tuple[float, float]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [
            (float(r["step"]), float(r[column]))
            for r in csv.DictReader(fh)
            if r.get("step") not in (None, "") and r.get(column) not in (None, "")
        ]


def load_gate(params: Params, root: Path) -> GateState:
    if params.gate is None:
        return GateState("not run", None, "params.yaml has no gate: section")
    if not (root / params.gate.output).is_file():
        return GateState("not run", None, f"{params.gate.output} does not exist; run `evalgate gate`")
    try:
        report = read_verdict(params, root)
    except InputError as exc:
        return GateState("unusable", None, str(exc))
    return GateState(report["verdict"], report)


def _policy(params: Params, gate: GateState) -> list[GateCheck]:
    """The checks the verdict was decided on (from gate.json), else the current policy."""
    if gate.report is not None:
        try:
            checks = gate.report["provenance"]["policy"]["checks"]
            return [GateCheck.model_validate(c) for c in checks]
        except (KeyError, TypeError, ValueError):
            pass
    return list(params.gate.checks) if params.gate else []


def _load_predictions(inputs: Inputs) -> None:
    runs = inputs.root / inputs.params.evaluate.runs_dir
    for side in SIDES:
        path = runs / side / "predictions.jsonl"
        if not path.is_file():
            inputs.note("answers", f"{inputs.rel(path)} is missing; answers are not shown")
            continue
        try:
            rows = read_predictions(path)
        except InputError as exc:
            inputs.note("answers", f"{exc}; answers are not shown".replace(str(path), inputs.rel(path)))
            continue
        inputs.record(path)
        inputs.predictions[side] = {key: row.model_dump() for key, row in rows.items()}


def _load_golden(inputs: Inputs) -> None:
    from evalgate.tasks import load_tasks

    prov = inputs.eval.metrics.get("provenance", {}).get("tasks", {})
    try:
        tasks = {t.name: t for t in load_tasks(inputs.root / inputs.params.tasks_dir)}
    except EvalgateError as exc:
        inputs.note("inputs", f"task files unreadable ({exc}); prompts are not shown")
        tasks = {}
    for name, info in prov.items():
        path = inputs.root / info.get("golden_set", "")
        if not path.is_file():
            inputs.note("inputs", f"{info.get('golden_set')} is missing; {name}'s inputs and references are not shown")
            continue
        if sha256_file(path) != info.get("golden_set_sha256"):
            inputs.note(
                "inputs", f"{info.get('golden_set')} changed since evaluation; {name}'s inputs and references are not shown"
            )
            continue
        inputs.record(path)
        task = tasks.get(name)
        id_field = task.spec.id_field if task else "id"
        ref_field = task.spec.reference_field if task else "reference"
        items: dict[str, GoldenItemView] = {}
        for record in _jsonl(path):
            if record.get(id_field) is None:
                continue
            if task is not None:
                try:
                    messages = [dict(m) for m in task.messages(record)]
                except Exception:  # a template that no longer renders this record: show the raw fields
                    messages = [{"role": "record", "content": json.dumps(record, ensure_ascii=False, indent=1)}]
            else:
                fields = {k: v for k, v in record.items() if k not in (id_field, ref_field)}
                messages = [{"role": "record", "content": json.dumps(fields, ensure_ascii=False, indent=1)}]
            items[str(record[id_field])] = GoldenItemView(messages, record.get(ref_field))
        inputs.golden[name] = items
        if task is None:
            inputs.note("inputs", f"no task file for {name} in {inputs.params.tasks_dir}; raw golden records shown")


def _load_promoted(inputs: Inputs) -> None:
    from evalgate.contract import read_promoted

    path = inputs.root / (inputs.params.gate.promoted if inputs.params.gate else PATHS["promoted"])
    try:
        record = read_promoted(path)
    except InputError as exc:
        inputs.note("promoted", f"{exc}; the promoted column is not shown")
        return
    if record is None:
        if "promoted" not in inputs.notes:
            inputs.note("promoted", f"No run has been promoted yet ({inputs.rel(path)} does not exist), so there is no promoted column")
        return
    inputs.record(path)
    entry = record.model_dump(mode="json")
    scores_path = inputs.root / record.scores_file
    if not scores_path.is_file() or sha256_file(scores_path) != record.scores_sha256:
        inputs.note("promoted", f"the promoted run's per-item scores are missing or do not match {inputs.rel(path)}")
        return
    current = {t: i.get("golden_set_sha256") for t, i in inputs.eval.metrics.get("provenance", {}).get("tasks", {}).items()}
    other = [t for t, sha in record.golden_sets.items() if t in current and current[t] != sha]
    inputs.record(scores_path)
    scores: dict[tuple[str, str], dict[str, float]] = {}
    for row in _jsonl(scores_path):
        if row.get("candidate") is not None and row.get("task") not in other:
            scores.setdefault((str(row["task"]), str(row["metric"])), {})[str(row["id"])] = float(row["candidate"])
    if other:
        inputs.note("promoted", f"the promoted run was scored on other golden sets for {', '.join(other)}; not compared there")
    inputs.promoted = Promoted(entry, scores)


def _load_stage_panels(inputs: Inputs) -> None:
    root = inputs.root
    inputs.judge = _json(inputs, root / PATHS["judge.metrics"], "judge")
    if inputs.judge is not None:
        rows_file = (inputs.judge.get("provenance") or {}).get("rows_file") or PATHS["judge.rows"]
        path = root / rows_file
        if path.is_file():
            inputs.record(path)
            for row in _jsonl(path):
                inputs.judge_rows.setdefault((str(row.get("task", "")), str(row.get("id", ""))), []).append(row)
    inputs.forgetting = _json(inputs, root / PATHS["forgetting.metrics"], "forgetting")


def _load_training(inputs: Inputs) -> None:
    root = inputs.root
    inputs.train_metrics = _json(inputs, root / PATHS["train.metrics"], "training", TrainMetrics)
    inputs.train_meta = _json(inputs, root / PATHS["train.meta"], "training", TrainMeta)
    for name, path in (("train loss", root / "plots" / "train_loss.csv"), ("validation loss", root / "plots" / "val_loss.csv")):
        if not path.is_file():
            continue
        try:
            points = _curve(path, "train_loss" if name == "train loss" else "val_loss")
        except (KeyError, ValueError, csv.Error) as exc:
            inputs.note("training", f"{inputs.rel(path)} is unreadable ({exc}); not plotted")
            continue
        inputs.record(path)
        inputs.curves[name] = points
    if not inputs.curves and inputs.train_metrics is None:
        inputs.note("training", "no training outputs (metrics/train.json, plots/*_loss.csv); the train stage has not run here")


def _load_data(inputs: Inputs) -> None:
    prepared = inputs.root / inputs.params.prepare.output_dir
    inputs.manifest = _json(inputs, prepared / "manifest.json", "data", PrepareManifest)
    inputs.prepare_report = _json(inputs, inputs.root / PATHS["prepare.report"], "data", PrepareReport)
    inputs.prepare_metrics = _json(inputs, inputs.root / PATHS["prepare.metrics"], "data", PrepareMetrics)
    inputs.rejects = list((inputs.prepare_report or {}).get("rejects") or [])
    if inputs.manifest is None and inputs.prepare_metrics is None:
        inputs.note("data", f"no {inputs.rel(prepared / 'manifest.json')} or metrics/prepare.json; the prepare stage has not run here")


def load_inputs(params: Params, root: Path = Path(".")) -> Inputs:
    """Read every input of the report. Raises InputError only for the required ones."""
    try:
        source = read_scored_stage(root, "eval", params.evaluate.metrics, needed_by="the report")
    except json.JSONDecodeError as exc:
        raise InputError(f"{root / 'runs' / 'scores.jsonl'}: invalid JSON at line {exc.lineno}; rerun `evalgate evaluate`") from None
    gate = load_gate(params, root)
    inputs = Inputs(root=root, params=params, eval=source, gate=gate, policy=_policy(params, gate))
    inputs.record(source.path)
    scores_file = source.metrics.get("provenance", {}).get("scores_file", "runs/scores.jsonl")
    inputs.record(root / scores_file)
    if gate.report is not None:
        inputs.record(root / params.gate.output)  # type: ignore[union-attr]
    _load_predictions(inputs)
    _load_golden(inputs)
    _load_promoted(inputs)
    _load_stage_panels(inputs)
    _load_training(inputs)
    _load_data(inputs)
    return inputs
