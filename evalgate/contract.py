"""The stage contract: every artifact one stage writes and another reads, as versioned models.

One schema version, one table of paths, one reader and one writer per artifact. A stage writes
through `write_artifact` (the model validates what it is about to write) and a consumer reads
through the `read_*` functions, so a missing, malformed, stale or older artifact is one clear
error (exit 2) naming the file, the field and the command that rewrites it. Provenance (which
golden sets and which adapter a result belongs to) is checked in one place, `check_fresh`.

The artifacts of the judge and forgetting stages are defined here too: those stages only fill
them in, and the gate reads their paired per-item scores exactly as it reads evaluate's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evalgate.artifacts import jsonl_bytes, sha256_file, write_bytes_atomic, write_json_atomic
from evalgate.errors import InputError

SCHEMA_VERSION = 1

# The one table of paths, relative to the project root. Params may move some (evaluate.metrics,
# gate.output, gate.promoted); everything else is fixed.
PATHS: dict[str, str] = {
    "prepare.manifest": "data/prepared/manifest.json",
    "prepare.metrics": "metrics/prepare.json",
    "prepare.report": "reports/prepare.json",
    "train.metrics": "metrics/train.json",
    "train.meta": "models/train_meta.json",
    "eval.metrics": "metrics/eval.json",
    "eval.scores": "runs/scores.jsonl",
    "eval.predictions": "runs/{side}/predictions.jsonl",
    "judge.metrics": "metrics/judge.json",
    "judge.rows": "runs/judge.jsonl",
    "judge.scores": "runs/judge_scores.jsonl",
    "forgetting.metrics": "metrics/forgetting.json",
    "forgetting.rows": "runs/forgetting.jsonl",
    "forgetting.scores": "runs/forgetting_scores.jsonl",
    "gate.report": "reports/gate.json",
    "promoted": "registry/promoted.json",
}

# The stages whose paired per-item scores the gate reads, and the command that rewrites each.
SCORE_SOURCES: dict[str, str] = {"eval": "evaluate", "judge": "judge", "forgetting": "forgetting"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    """A part whose extra fields are the writing stage's own (kept, not checked)."""

    model_config = ConfigDict(extra="allow")


# ------------------------------------------------------------------------ per-item score rows


class ScoreRow(_Model):
    """One item's score on one metric for base and candidate (None: unscored). Evaluate, judge
    (`judge:<task>/<criterion>`, `win_rate`) and forgetting all write the gate's rows in this shape."""

    task: str
    id: str
    metric: str
    scorer: str
    base: float | None
    candidate: float | None
    base_explanation: str = ""
    candidate_explanation: str = ""


class PredictionRow(_Model):
    """One golden item's answer from one side (`runs/<side>/predictions.jsonl`): what evaluate
    writes and the judge and the report read."""

    task: str
    id: str
    prompt_sha256: str
    output: str
    tokens: int
    latency_s: float
    finish_reason: str
    generation_config_sha256: str


def read_predictions(path: Path) -> dict[tuple[str, str], PredictionRow]:
    """(task, id) -> the answer, from one side's predictions file; clear errors naming the line."""
    if not path.is_file():
        raise InputError(f"{path}: missing; run `evalgate evaluate` (or `dvc repro`) first")
    return {(r.task, r.id): r for r in read_rows(path, PredictionRow, rewrite="rerun `evalgate evaluate`")}


class JudgeRow(_Open):
    """One judge request's outcome for one item: pointwise (one side) or pairwise (one order)."""

    task: str
    id: str
    rubric: str
    mode: Literal["pointwise", "pairwise"]
    side: Literal["base", "candidate"] | None = None  # pointwise: the answer graded
    order: Literal["base_first", "candidate_first"] | None = None  # pairwise: which answer came first
    sample: int = 0
    scores: dict[str, float | None] = Field(default_factory=dict)  # criterion -> 1..5, or None: unscored
    winner: Literal["base", "candidate", "tie"] | None = None  # pairwise
    reasons: dict[str, str] = Field(default_factory=dict)
    raw: str | None = None  # the reply, kept when it could not be parsed
    cause: Literal["transient", "unusable"] | None = None  # unscored: no reply or cut off (asked again once), or unreadable
    retried: bool = False  # asked again by a later run after a transient failure
    provider: str
    model: str
    cost_usd: float = 0.0


class ForgettingRow(_Open):
    """One lm-evaluation-harness document's outcome for base and candidate."""

    task: str
    id: str
    metric: str
    base: float | None
    candidate: float | None
    target: str | None = None
    base_response: str | None = None
    candidate_response: str | None = None


# ------------------------------------------------------------------------------ stage metrics


class MetricSummary(_Open):
    base: float | None
    candidate: float | None
    n: int
    higher_is_better: bool
    binary: bool
    primary: bool = False
    range: list[float] | None = None


class AdapterRef(_Model):
    dir: str
    sha256: str


class TaskProvenance(_Open):
    """Where a task's items came from. A stage without a golden set (forgetting) leaves the
    golden-set fields out; freshness is then checked on what it does record."""

    golden_set: str | None = None
    golden_set_sha256: str | None = None
    items: int | None = None


class StageProvenance(_Open):
    scores_file: str
    scores_sha256: str
    adapter: AdapterRef | dict[str, Any] | None = None
    base_model: dict[str, Any] | None = None
    dataset_sha256: str | None = None
    tasks: dict[str, TaskProvenance] = Field(default_factory=dict)
    inputs: dict[str, str] = Field(default_factory=dict)
    """Other files the results depend on (rubrics, a calibration set, an upstream stage's
    metrics): path relative to the project root -> sha256. Checked by `check_fresh`."""
    git_commit: str | None = None


class StageMetrics(_Open):
    """metrics/eval.json, metrics/judge.json, metrics/forgetting.json: per task and metric a
    summary, and the provenance of the per-item scores behind them."""

    schema_version: Literal[1]
    tasks: dict[str, dict[str, MetricSummary]]
    provenance: StageProvenance


# ------------------------------------------------------------------------- prepare, train


class PreparedFile(_Model):
    sha256: str
    records: int


class PrepareManifest(_Open):
    """data/prepared/manifest.json: the dataset's hash and the files behind it, nothing else (a
    function of the prepared records only)."""

    schema_version: Literal[1]
    kind: Literal["evalgate.prepare.manifest"]
    dataset_sha256: str
    files: dict[str, PreparedFile]
    counts: dict[str, int]


class PrepareReport(_Open):
    """reports/prepare.json: where the records came from (input files and their hashes) and what
    was removed and why (file:line), kept out of data/prepared/ so that reordering the inputs
    changes the report, never the dataset."""

    schema_version: Literal[1]
    kind: Literal["evalgate.prepare.report"]
    dataset_sha256: str
    inputs: list[dict[str, Any]]
    counts: dict[str, int]
    removals: list[dict[str, Any]]
    rejects: list[dict[str, Any]]


class PrepareMetrics(_Model):
    """metrics/prepare.json."""

    schema_version: Literal[1]
    dataset_sha256: str
    prepare: dict[str, int]


class TrainMetrics(_Open):
    """metrics/train.json: what the training did, and which trainer path ran."""

    schema_version: Literal[1]
    train_loss: float
    steps: int
    epochs: float
    trainer_path: Literal["cached_lower_layers", "full_forward"]
    adapter_sha256: str


class TrainMeta(_Open):
    """models/train_meta.json: the adapter's provenance (data, base, hyperparameters)."""

    schema_version: Literal[1]
    kind: Literal["evalgate.train.meta"]
    adapter_sha256: str
    adapter_dir: str
    dataset_sha256: str
    base_model: dict[str, Any]


def read_manifest(path: Path) -> PrepareManifest:
    rerun = "re-run `evalgate prepare`"
    if not path.is_file():
        raise InputError(f"{path}: not found; run `evalgate prepare` first")
    return parse(PrepareManifest, read_json(path, rewrite=rerun), path, rewrite=rerun)


def read_train_meta(path: Path) -> TrainMeta | None:
    """The adapter's training record, None when there is none (an adapter trained elsewhere)."""
    if not path.is_file():
        return None
    rerun = "re-run `evalgate train` (or `dvc repro`)"
    return parse(TrainMeta, read_json(path, rewrite=rerun), path, rewrite=rerun)


# ----------------------------------------------------------------------------- gate, promote


class CheckOutcome(_Open):
    name: str
    target: str
    kind: str
    verdict: Literal["pass", "fail", "skipped", "uninformative", "advisory"]
    reason: str
    estimate: float | None = None
    ci: list[float | None] | None = None
    threshold: float | None = None
    p_value: float | None = None
    mde: float | None = None


class GateReport(_Open):
    schema_version: Literal[1]
    verdict: Literal["pass", "fail"]
    summary: str
    counts: dict[str, int]
    checks: list[CheckOutcome]
    provenance: dict[str, Any]


class PromotionRecord(_Open):
    schema_version: Literal[1]
    adapter_sha256: str
    adapter_dir: str
    golden_sets: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    scores_file: str
    scores_sha256: str
    promoted_at: str | None = None
    previous: dict[str, Any] | None = None


M = TypeVar("M", bound=BaseModel)

# Older schema versions: artifact name -> version -> a function that rewrites it one version up.
# A stage's output of an older version is refused (its command rewrites it); a promotion record
# is migrated, never lost: it is the only artifact that cannot be recomputed from the data.
MIGRATIONS: dict[str, dict[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {"promoted": {}}


def _problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return f"field {loc}: {err['msg']}"


def read_json(path: Path, *, rewrite: str) -> dict[str, Any]:
    """A JSON object from disk, or InputError naming the file and `rewrite` (the fix)."""
    if not path.is_file():
        raise InputError(f"{path}: missing; {rewrite}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: unreadable (invalid JSON at line {exc.lineno}: {exc.msg}); {rewrite}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: unreadable ({exc}); {rewrite}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a JSON object; {rewrite}")
    return data


def parse(model: type[M], data: dict[str, Any], path: Path, *, rewrite: str, artifact: str | None = None) -> M:
    """Validate an artifact, migrating an older schema version when `artifact` has migrations."""
    version = data.get("schema_version")
    if artifact is not None and isinstance(version, int) and version < SCHEMA_VERSION:
        steps = MIGRATIONS.get(artifact, {})
        while isinstance(version, int) and version < SCHEMA_VERSION and version in steps:
            data = steps[version](data)
            version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        why = "a newer evalgate wrote it; upgrade evalgate" if newer else rewrite
        raise InputError(f"{path}: schema_version {version!r} is not the one this evalgate reads ({SCHEMA_VERSION}); {why}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{path}: {_problem(exc)}; {rewrite}") from None


def dump(model: BaseModel) -> dict[str, Any]:
    """The artifact as written: only the fields that were set, in their order."""
    return model.model_dump(mode="json", exclude_unset=True)


def write_artifact(path: Path, model: type[M], data: dict[str, Any] | M) -> M:
    """Validate `data` as `model` and write it atomically; a writer bug is caught before the file is."""
    obj = data if isinstance(data, BaseModel) else model.model_validate(data)
    write_json_atomic(path, dump(obj) if isinstance(data, BaseModel) else data)
    return obj  # type: ignore[return-value]


def write_rows(path: Path, rows: Iterable[dict[str, Any]], model: type[BaseModel]) -> bytes:
    """Per-item rows, each validated, written atomically as JSON lines; returns the bytes."""
    rows = list(rows)
    for i, row in enumerate(rows):
        try:
            model.model_validate(row)
        except ValidationError as exc:  # a writer bug, not user input
            raise AssertionError(f"{path} row {i + 1}: {_problem(exc)}") from exc
    data = jsonl_bytes(rows)
    write_bytes_atomic(path, data)
    return data


def read_rows(path: Path, model: type[M], *, rewrite: str) -> list[M]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(model.model_validate_json(line))
            except ValidationError as exc:
                raise InputError(f"{path}:{lineno}: {_problem(exc)}; {rewrite}") from None
    return out


# ------------------------------------------------------------------------------ the readers


class ScoredStage:
    """A stage's metrics file (validated: `typed`; as written: `metrics`) and its per-item score
    rows by (task, metric), in file order, checked against the hash the metrics file records."""

    def __init__(self, name: str, path: Path, typed: StageMetrics, metrics: dict[str, Any], rows: list[ScoreRow]):
        self.name = name
        self.path = path
        self.typed = typed
        self.metrics = metrics
        self.rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            self.rows.setdefault((row.task, row.metric), []).append(row.model_dump())


def metrics_path_of(source: str, eval_metrics: str | None = None) -> str:
    return eval_metrics if source == "eval" and eval_metrics else PATHS[f"{source}.metrics"]


def read_scored_stage(root: Path, source: str, metrics_path: str | None = None, *, needed_by: str = "the gate") -> ScoredStage:
    """evaluate's (judge's, forgetting's) metrics and the per-item scores behind them."""
    command = SCORE_SOURCES[source]
    mfile = root / (metrics_path or PATHS[f"{source}.metrics"])
    rerun = f"rerun `evalgate {command}` (or `dvc repro`)"
    if not mfile.is_file():
        raise InputError(f"{mfile}: missing; {needed_by} needs it (run `evalgate {command}` or `dvc repro`)")
    raw = read_json(mfile, rewrite=rerun)
    metrics = parse(StageMetrics, raw, mfile, rewrite=rerun)
    sfile = root / metrics.provenance.scores_file
    if not sfile.is_file():
        raise InputError(f"{sfile}: missing; the per-item scores behind {mfile} are gone; {rerun}")
    if sha256_file(sfile) != metrics.provenance.scores_sha256:
        raise InputError(f"{sfile}: does not match the sha256 recorded in {mfile} (stale or edited); {rerun}")
    return ScoredStage(source, mfile, metrics, raw, read_rows(sfile, ScoreRow, rewrite=rerun))


def check_fresh(root: Path, stage: ScoredStage) -> None:
    """Refuse results computed on other golden sets or for another adapter than the current one.
    A task without a golden set (the forgetting stage's benchmarks) has nothing to compare here."""
    prov = stage.typed.provenance
    what = stage.path.relative_to(root) if stage.path.is_relative_to(root) else stage.path
    for task, info in prov.tasks.items():
        if not info.golden_set:
            continue
        path = root / info.golden_set
        if not path.is_file() or sha256_file(path) != info.golden_set_sha256:
            raise InputError(
                f"{info.golden_set}: changed since {what} was computed for task {task}; "
                f"rerun `evalgate {SCORE_SOURCES[stage.name]}` (or `dvc repro`) before gating"
            )
    for rel, sha in prov.inputs.items():
        path = root / rel
        if not path.is_file() or sha256_file(path) != sha:
            raise InputError(
                f"{rel}: changed since {what} was computed; rerun `evalgate {SCORE_SOURCES[stage.name]}` (or `dvc repro`) before gating"
            )
    adapter = prov.adapter
    adapter_dir = adapter.dir if isinstance(adapter, AdapterRef) else (adapter or {}).get("dir")
    if adapter_dir:
        from evalgate.adapter import adapter_sha256, is_adapter

        recorded = adapter.sha256 if isinstance(adapter, AdapterRef) else (adapter or {}).get("sha256")
        adir = root / adapter_dir
        if is_adapter(adir) and adapter_sha256(adir) != recorded:
            raise InputError(f"{adapter_dir}: the adapter changed since {what} was computed; rerun `evalgate {SCORE_SOURCES[stage.name]}`")


def golden_sets(stage: ScoredStage) -> dict[str, str]:
    """task -> golden-set sha256, for the tasks that have one."""
    return {t: i.golden_set_sha256 for t, i in stage.typed.provenance.tasks.items() if i.golden_set_sha256}


def read_promoted(path: Path) -> PromotionRecord | None:
    """The promoted run, migrated from an older schema version when it is one; None when there is none."""
    if not path.is_file():
        return None
    fix = "restore it from git (`git checkout -- registry/`) or promote again with `evalgate promote`"
    return parse(PromotionRecord, read_json(path, rewrite=fix), path, rewrite=fix, artifact="promoted")
