"""Promotion: record a run that passed the gate as the one in production.

`registry/promoted.json` names the adapter, data and base hashes, the metrics and a copy of the
per-item scores (so later candidates can be gated against it item by item). It is refused when
the gate did not pass or when the gate's verdict is not about the adapter and scores on disk.
When MLflow is installed and MLFLOW_TRACKING_URI is set, the adapter is also registered as a
model version and the `champion` alias moved to it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from evalgate.adapter import adapter_sha256
from evalgate.artifacts import sha256_file, write_bytes_atomic
from evalgate.config import Params
from evalgate.contract import (
    SCHEMA_VERSION,
    GateReport,
    PromotionRecord,
    parse,
    read_json,
    read_promoted,
    read_scored_stage,
    write_artifact,
)
from evalgate.errors import InputError
from evalgate.git import git_commit

REGISTRY_DIR = Path("registry")


def run_promote(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    if params.gate is None:
        raise InputError("params.yaml: gate: section is missing; promotion needs a gate verdict")
    gate_path = root / params.gate.output
    if not gate_path.is_file():
        raise InputError(f"{gate_path}: missing; run `evalgate gate` first, promotion needs a passing verdict")
    report = parse(GateReport, read_json(gate_path, rewrite="rerun `evalgate gate`"), gate_path, rewrite="rerun `evalgate gate`")
    if report.verdict != "pass":
        raise InputError(f"{gate_path}: the gate did not pass ({report.summary}); refusing to promote")
    prov = report.provenance
    metrics_path = root / params.evaluate.metrics
    if not metrics_path.is_file() or sha256_file(metrics_path) != (prov.get("metrics_files") or {}).get("eval"):
        raise InputError(f"{metrics_path}: changed since the gate ran; rerun `evalgate gate` before promoting")
    stage = read_scored_stage(root, "eval", params.evaluate.metrics, needed_by="promotion")
    scores_path = root / stage.typed.provenance.scores_file
    adapter = prov["adapter"]
    adapter_dir = root / adapter["dir"]
    if not adapter_dir.is_dir() or adapter_sha256(adapter_dir) != adapter["sha256"]:
        raise InputError(
            f"{adapter['dir']}: is not the adapter the gate passed (sha256 {adapter['sha256'][:12]}); "
            "rerun the pipeline before promoting"
        )

    registry = root / REGISTRY_DIR
    scores_copy = registry / "scores" / f"{adapter['sha256'][:16]}.jsonl"
    write_bytes_atomic(scores_copy, scores_path.read_bytes())
    promoted_path = root / params.gate.promoted
    previous = read_promoted(promoted_path)
    entry: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "adapter_sha256": adapter["sha256"],
        "adapter_dir": adapter["dir"],
        "dataset_sha256": prov.get("dataset_sha256"),
        "base_model": prov.get("base_model"),
        "golden_sets": prov.get("golden_sets", {}),
        "metrics": stage.metrics["tasks"],
        "scores_file": str(scores_copy.relative_to(root)),
        "scores_sha256": sha256_file(scores_copy),
        "gate_report_sha256": sha256_file(gate_path),
        "git_commit": git_commit(root),
        "promoted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "previous": (
            {"adapter_sha256": previous.adapter_sha256, "promoted_at": previous.promoted_at, "git_commit": getattr(previous, "git_commit", None)}
            if previous
            else None
        ),
    }
    entry["mlflow"] = _mlflow_register(adapter_dir, entry)
    write_artifact(promoted_path, PromotionRecord, entry)
    entry["registry_file"] = str(promoted_path.relative_to(root)) if promoted_path.is_relative_to(root) else str(promoted_path)
    return entry


def _mlflow_register(adapter_dir: Path, entry: dict[str, Any]) -> str | None:
    """Register the adapter and move the `champion` alias, when MLflow is set up; else None."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    try:
        import mlflow
        from mlflow import MlflowClient
    except ImportError:
        return None
    name = os.environ.get("EVALGATE_MLFLOW_MODEL", "evalgate-adapter")
    with mlflow.start_run(run_name=f"promote-{entry['adapter_sha256'][:12]}") as run:
        mlflow.set_tags({"evalgate.adapter_sha256": entry["adapter_sha256"], "evalgate.dataset_sha256": str(entry["dataset_sha256"])})
        for task, metrics in entry["metrics"].items():
            for metric, m in metrics.items():
                if m.get("candidate") is not None:
                    mlflow.log_metric(f"{task}.{metric}", m["candidate"])
        mlflow.log_artifacts(str(adapter_dir), artifact_path="adapter")
        version = mlflow.register_model(f"runs:/{run.info.run_id}/adapter", name)
    MlflowClient().set_registered_model_alias(name, "champion", version.version)
    return f"{name} version {version.version} (alias champion)"
