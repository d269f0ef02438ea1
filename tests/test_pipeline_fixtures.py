"""The pipeline's outputs for fixed inputs do not change: prepare, evaluate and gate on the tiny
model, compared field by field with committed fixtures (timestamps, temporary paths and package
versions aside). A refactor that changes a score, a verdict or an artifact's shape fails here.

The fixtures were written by this code before the stage-contract refactor. To rewrite them after
an intended change of output: ``EVALGATE_UPDATE_FIXTURES=1 pytest tests/test_pipeline_fixtures.py``
and review the diff.
"""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import chat, write_jsonl
from tests.test_evaluate import WORDS, make_adapter

FIXTURES = Path(__file__).parent / "fixtures" / "pipeline"
ARTIFACTS = {"gate.json": "reports/gate.json", "eval.json": "metrics/eval.json", "scores.jsonl": "runs/scores.jsonl"}
# The machine: its CPU class and thread count (provenance, not results).
VOLATILE = {"created", "created_at", "timestamp", "seconds", "duration_s", "elapsed_s", "packages", "evalgate_version", "git", "isa", "threads", "isa_hardware", "isa_capped_by"}


def normalise(obj: Any, paths: dict[str, str]) -> Any:
    """Replace machine-specific strings, drop volatile fields, round floats to 9 significant digits."""
    if isinstance(obj, dict):
        return {k: normalise(v, paths) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [normalise(v, paths) for v in obj]
    if isinstance(obj, str):
        for real, placeholder in paths.items():
            obj = obj.replace(real, placeholder)
        return obj
    if isinstance(obj, float) and math.isfinite(obj) and obj != 0.0:
        return float(f"{obj:.9g}")
    return obj


def build_project(project, tiny_model_dir: Path) -> None:
    rng = random.Random(7)
    root = project.root
    project.params["model"]["base"] = str(tiny_model_dir)
    project.params["evaluate"] = {"max_batch_size": 8, "token_budget": 4096, "compute_dtype": "float32"}
    scorers = [{"scorer": "rouge", "metric": "rougeL", "params": {"type": "rougeL"}}, {"scorer": "length", "metric": "short", "params": {"max_words": 1}}]
    project.task("summ", "Summarise: {{ text }}", 12, scorers, primary_metric="rougeL")
    if (FIXTURES / "golden").is_dir() and not os.environ.get("EVALGATE_UPDATE_FIXTURES"):
        for name in ("qa.jsonl", "summ.jsonl"):
            (root / "golden_sets" / name).write_bytes((FIXTURES / "golden" / name).read_bytes())
    else:
        write_jsonl(root / "golden_sets" / "qa.jsonl", [{"id": f"q{i}", "question": words(rng, 2, 10), "reference": rng.choice(WORDS)} for i in range(24)])
        write_jsonl(root / "golden_sets" / "summ.jsonl", [{"id": f"s{i}", "text": words(rng, 6, 16), "reference": words(rng, 4, 4)} for i in range(24)])
    project.data([chat(f"Summarise: {words(rng, 10, 10)}", rng.choice(WORDS), id=f"r{i}") for i in range(30)])
    project.params["gate"] = {
        "resamples": 2000,
        "checks": [
            {"target": "summ/rougeL", "kind": "min", "threshold": 0.2},
            {"target": "summ/rougeL", "kind": "max_drop_vs_base", "margin": 0.3},
            {"target": "summ/short", "kind": "max_drop_vs_base", "margin": 0.3},
            {"target": "qa/contains", "kind": "min_gain_vs_base", "margin": 0.0},
            {"target": "qa/exact_match", "kind": "max_drop_vs_base", "margin": 0.2},
            {"target": "qa/exact_match", "kind": "min_coverage", "threshold": 1.0},
            {"target": "summ/rougeL", "kind": "max_drop_vs_promoted", "margin": 0.1},
        ],
    }
    project.write_params()
    make_adapter(tiny_model_dir, root / "models" / "adapter", str(tiny_model_dir), seed=3)


def words(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def answers(root: Path, side: str) -> dict[str, str]:
    rows = [json.loads(line) for line in (root / "runs" / side / "predictions.jsonl").read_text().splitlines()]
    return {r["id"]: r["output"] for r in rows}


def references_from_answers(root: Path) -> None:
    """Rewrite the golden references from the models' own answers, so the scores vary by item and
    by side (a random tiny model never writes a golden word): a third of the items are the
    candidate's answer, a third the base's, a third a word neither writes."""
    base, cand = answers(root, "base"), answers(root, "candidate")
    for name in ("qa.jsonl", "summ.jsonl"):
        path = root / "golden_sets" / name
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for i, row in enumerate(rows):
            pick = (cand, base, None)[i % 3]
            if pick is not None:
                row["reference"] = pick[row["id"]] if name == "qa.jsonl" else f"{pick[row['id']]} {cand[row['id']][:4]}"
        write_jsonl(path, rows)
        (FIXTURES / "golden").mkdir(parents=True, exist_ok=True)
        (FIXTURES / "golden" / name).write_bytes(path.read_bytes())


def run_stages(run_cli) -> None:
    for stage in ("prepare", "evaluate"):
        result = run_cli(stage)
        assert result.exit_code == 0, result.output
    result = run_cli("gate", "--no-fail")
    assert result.exit_code == 0, result.output


def test_pipeline_outputs_match_the_committed_fixtures(project, tiny_model_dir, run_cli, monkeypatch):
    monkeypatch.setenv("EVALGATE_CACHE_DIR", str(project.root / ".cache"))
    build_project(project, tiny_model_dir)
    run_stages(run_cli)
    updating = bool(os.environ.get("EVALGATE_UPDATE_FIXTURES"))
    if updating:
        references_from_answers(project.root)
        run_stages(run_cli)

    from evalgate.adapter import adapter_sha256
    from evalgate.artifacts import sha256_file

    # Hashes of files whose bytes hold this run's temporary paths, named instead of compared.
    paths = {
        str(tiny_model_dir): "<model>",
        str(project.root): "<root>",
        adapter_sha256(project.root / "models" / "adapter"): "<adapter sha256>",
        sha256_file(project.root / "metrics" / "eval.json"): "<eval.json sha256>",
    }
    got = {}
    for name, rel in ARTIFACTS.items():
        text = (project.root / rel).read_text(encoding="utf-8")
        if name.endswith(".jsonl"):
            got[name] = [normalise(json.loads(line), paths) for line in text.splitlines()]
        else:
            got[name] = normalise(json.loads(text), paths)

    if updating:
        for name, value in got.items():
            (FIXTURES / f"{name}.expected.json").write_text(json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        pytest.skip("fixtures rewritten; review the diff")

    # Not a trivial run: scores vary, and the checks pass, fail and skip.
    verdicts = {c["verdict"] for c in got["gate.json"]["checks"]}
    assert {"pass", "fail", "skipped"} <= verdicts, verdicts
    for name, value in got.items():
        expected = json.loads((FIXTURES / f"{name}.expected.json").read_text())
        assert_same(value, expected, name)


def assert_same(got: Any, expected: Any, where: str) -> None:
    """Field-by-field equality with the path of the first difference in the message."""
    if isinstance(expected, dict):
        assert isinstance(got, dict), f"{where}: expected an object, got {type(got).__name__}"
        assert sorted(got) == sorted(expected), f"{where}: keys differ: missing {sorted(set(expected) - set(got))}, extra {sorted(set(got) - set(expected))}"
        for key in expected:
            assert_same(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), f"{where}: expected a list of {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_same(g, e, f"{where}[{i}]")
    elif isinstance(expected, float) and isinstance(got, float):
        assert math.isclose(got, expected, rel_tol=1e-7, abs_tol=1e-9), f"{where}: {got!r} != {expected!r}"
    else:
        assert got == expected, f"{where}: {got!r} != {expected!r}"
