"""`evalgate cache`: sizes by kind, and pruning by age, by kind or all, on a real cache layout
(the SQLite stores written by their own classes, state files with their use times)."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from evalgate.generate.base import Generation
from evalgate.generate.cache import PredictionCache
from evalgate.judging.cache import JudgeCache

DAY = 86400.0


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("EVALGATE_CACHE_DIR", str(root))
    answers = PredictionCache(root / "predictions.sqlite")
    answers.put_many([(f"k{i}", Generation(f"answer {i}", 3, 0.1, "stop")) for i in range(5)])
    answers.close()
    db = sqlite3.connect(str(root / "predictions.sqlite"))
    db.execute("UPDATE generations SET created_at = ? WHERE key IN ('k0', 'k1')", (time.time() - 40 * DAY,))
    db.commit()
    db.close()
    replies = JudgeCache(root / "judge.sqlite")
    replies.close()
    now = time.time()
    for name, days in (("aa/old.safetensors", 40), ("bb/new.safetensors", 1)):
        path = root / "trunk" / name
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - days * DAY, now - days * DAY))
    model = root / "models" / "smollm2-0123" / "model.safetensors"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"m" * 500)
    os.utime(model, (now - 90 * DAY, now - 90 * DAY))
    (root / "someone-elses.txt").write_text("keep me")
    return root


def test_cache_lists_every_kind_with_its_size_and_entries(cache, run_cli):
    result = run_cli("cache")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[2:] if line.strip()}
    assert lines["answers"].split()[1] == "5"
    assert lines["states"].split()[1] == "2" and "2.0 KB" in lines["states"]
    assert "not pruned by age" in lines["models"]
    assert "someone-elses.txt" in result.output and "left alone" in result.output


def test_prune_by_age_removes_old_entries_only_and_never_models(cache, run_cli):
    dry = run_cli("cache", "prune", "--older-than", "30", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "answers: would remove 2 entries" in dry.output and "states: would remove 1 entries" in dry.output
    assert (cache / "trunk" / "aa" / "old.safetensors").exists()

    done = run_cli("cache", "prune", "--older-than", "30")
    assert done.exit_code == 0, done.output
    assert "removed 3 entries (older than 30 days)" in done.output
    left = PredictionCache(cache / "predictions.sqlite")
    assert sorted(left.get_many([f"k{i}" for i in range(5)])) == ["k2", "k3", "k4"]
    left.close()
    assert not (cache / "trunk" / "aa" / "old.safetensors").exists()
    assert (cache / "trunk" / "bb" / "new.safetensors").exists()
    assert (cache / "models" / "smollm2-0123" / "model.safetensors").exists()  # 90 days old, still kept
    assert (cache / "someone-elses.txt").exists()


def test_prune_a_kind_or_everything(cache, run_cli):
    done = run_cli("cache", "prune", "--kind", "models")
    assert done.exit_code == 0 and "models: removed 1 entries" in done.output
    assert not (cache / "models").exists() and (cache / "trunk" / "bb" / "new.safetensors").exists()
    everything = run_cli("cache", "prune", "--all")
    assert everything.exit_code == 0, everything.output
    assert not (cache / "trunk").exists()
    left = PredictionCache(cache / "predictions.sqlite")
    assert len(left) == 0
    left.close()
    assert (cache / "someone-elses.txt").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "say what to prune: --older-than DAYS, --kind NAME"),
        (("--kind", "stats"), "--kind: unknown cache kind 'stats'; did you mean 'states'"),
        (("--all", "--kind", "states"), "--all removes everything"),
    ],
)
def test_prune_without_a_clear_target_is_a_clear_error(cache, run_cli, args, message):
    result = run_cli("cache", "prune", *args)
    assert result.exit_code == 2 and message in result.output
    assert (cache / "trunk" / "aa" / "old.safetensors").exists()
