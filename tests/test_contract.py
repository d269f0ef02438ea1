"""The stage contract: one schema version, typed artifacts, clear errors, migrations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalgate.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def test_one_schema_version_for_every_artifact():
    defined = [p for p in (REPO / "evalgate").rglob("*.py") if re.search(r"^SCHEMA_VERSION\s*=", p.read_text(), re.M)]
    assert [p.relative_to(REPO).as_posix() for p in defined] == ["evalgate/contract.py"]
    literal = [p for p in (REPO / "evalgate").rglob("*.py") if re.search(r"[\"']schema_version[\"']\s*:\s*\d", p.read_text())]
    assert not literal, f"schema_version written as a literal in {literal}"


def promotion(version: int, **extra) -> dict:
    return {
        "schema_version": version, "adapter_sha256": "a" * 64, "adapter_dir": "models/adapter",
        "scores_file": "registry/scores/x.jsonl", "scores_sha256": "b" * 64, **extra,
    }


def test_a_promotion_record_of_an_older_version_is_migrated_never_refused(tmp_path, monkeypatch):
    from evalgate import contract

    def v0_to_v1(data: dict) -> dict:
        out = {k: v for k, v in data.items() if k != "adapter"}
        out.update(schema_version=1, adapter_sha256=data["adapter"]["sha256"], adapter_dir=data["adapter"]["dir"])
        return out

    monkeypatch.setitem(contract.MIGRATIONS, "promoted", {0: v0_to_v1})
    old = promotion(1)
    del old["adapter_sha256"], old["adapter_dir"]
    old.update(schema_version=0, adapter={"sha256": "c" * 64, "dir": "models/adapter"})
    path = tmp_path / "promoted.json"
    path.write_text(json.dumps(old))
    record = contract.read_promoted(path)
    assert record is not None and record.adapter_sha256 == "c" * 64 and record.schema_version == 1


def test_a_stage_artifact_of_another_version_is_refused_with_the_command_that_rewrites_it(tmp_path):
    from evalgate.contract import StageMetrics, parse

    path = tmp_path / "eval.json"
    with pytest.raises(InputError, match=r"schema_version 0 is not the one this evalgate reads \(1\); rerun `evalgate evaluate`"):
        parse(StageMetrics, {"schema_version": 0}, path, rewrite="rerun `evalgate evaluate`")
    with pytest.raises(InputError, match="a newer evalgate wrote it; upgrade evalgate"):
        parse(StageMetrics, {"schema_version": 2}, path, rewrite="rerun `evalgate evaluate`")


def test_a_broken_promotion_record_says_how_to_restore_it(tmp_path):
    from evalgate.contract import read_promoted

    path = tmp_path / "promoted.json"
    path.write_text(json.dumps(promotion(1, scores_sha256=None)))
    with pytest.raises(InputError, match=r"field scores_sha256: .*restore it from git"):
        read_promoted(path)
    assert read_promoted(tmp_path / "absent.json") is None


def test_score_rows_are_validated_with_file_and_line(tmp_path):
    from evalgate.contract import ScoreRow, read_rows

    path = tmp_path / "scores.jsonl"
    good = {"task": "t", "id": "1", "metric": "m", "scorer": "s", "base": 1.0, "candidate": 0.0}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "candidate": "high"}) + "\n")
    with pytest.raises(InputError, match=r"scores.jsonl:2: field candidate"):
        read_rows(path, ScoreRow, rewrite="rerun `evalgate evaluate`")


def test_judge_and_forgetting_rows_are_defined():
    from evalgate.contract import PATHS, ForgettingRow, JudgeRow, ScoreRow

    JudgeRow.model_validate({"task": "t", "id": "1", "rubric": "r", "mode": "pairwise", "order": "base_first", "winner": "tie", "provider": "local", "model": "m"})
    ForgettingRow.model_validate({"task": "arc_easy", "id": "7", "metric": "acc", "base": 1.0, "candidate": 0.0})
    ScoreRow.model_validate({"task": "t", "id": "1", "metric": "win_rate", "scorer": "judge", "base": 0.0, "candidate": 1.0})
    assert {"judge.metrics", "judge.scores", "forgetting.metrics", "forgetting.scores"} <= set(PATHS)
