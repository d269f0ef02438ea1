"""The prepare stage on valid data: normalisation, de-duplication, leakage, split, hashes."""

from __future__ import annotations

import hashlib
import json
import random
import string
import subprocess
import sys

import pytest

from tests.conftest import chat, write_jsonl


def sentence(rng: random.Random, words: int = 40) -> str:
    return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 9))) for _ in range(words))


def distinct_rows(n: int, seed: int = 0, prefix: str = "r") -> list[dict]:
    rng = random.Random(seed)
    return [chat(f"Summarise: {sentence(rng)}", sentence(rng, 8), id=f"{prefix}{i}") for i in range(n)]


def test_formats_are_normalised_to_one_canonical_chat(project, run_cli):
    project.data([{"id": "a1", "instruction": "Translate to French.", "input": "cheese", "output": "fromage"}], "alpaca.jsonl")
    project.data([{"id": "p1", "prompt": "Capital of Peru?", "completion": "Lima.", "system": "Be brief."}], "pc.jsonl")
    project.data([chat("Name a prime number.", "Seven.", id="c1")], "chat.jsonl")
    project.params["prepare"]["inputs"] = [{"path": "data/raw/*.jsonl"}]
    project.params["prepare"]["split"] = {"val_fraction": 0.0}
    project.write_params()
    result = run_cli("prepare")
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in map(json.loads, (project.prepared / "train.jsonl").read_text().splitlines())}
    assert rows["a1"]["messages"] == [
        {"role": "user", "content": "Translate to French.\n\ncheese"},
        {"role": "assistant", "content": "fromage"},
    ]
    assert rows["p1"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert rows["c1"]["messages"][-1] == {"role": "assistant", "content": "Seven."}
    manifest = project.prepare_report()
    assert manifest["format_mix"] == {"alpaca": 1, "chat": 1, "prompt_completion": 1}
    assert [i["format"] for i in manifest["inputs"]] == ["alpaca", "chat", "prompt_completion"]


def test_exact_and_near_duplicates_are_removed(project, run_cli):
    rows = distinct_rows(30)
    original = rows[3]["messages"][0]["content"]
    exact = chat("  " + original.upper().replace(" ", "   ") + "\n", rows[3]["messages"][1]["content"], id="dup-exact")
    near_text = original[:-6] + "zzzzzz"  # a few characters changed in ~300
    near = chat(near_text, rows[3]["messages"][1]["content"], id="dup-near")
    project.data([*rows, exact, near])
    result = run_cli("prepare")
    assert result.exit_code == 0, result.output
    manifest = project.prepare_report()
    removed = {r["id"]: r for r in manifest["removals"]}
    # Which copy stays is decided by content, never by position in the inputs: one of the three.
    group = {"r3", "dup-exact", "dup-near"}
    assert len(removed) == 2 and set(removed) < group  # no distinct record is lost
    kept = project.split_ids("train.jsonl") + project.split_ids("val.jsonl")
    (survivor,) = group & set(kept)
    assert sorted(kept) == sorted([r["id"] for r in rows if r["id"] != "r3"] + [survivor])
    assert sorted(r["reason"] for r in removed.values()) == ["exact_duplicate", "near_duplicate"]
    exact_pair = {"r3", "dup-exact"}
    for rid, r in removed.items():
        if r["reason"] == "exact_duplicate":
            assert {rid, r["related"]} == exact_pair
        else:
            assert r["related"] in group - {rid} and r["similarity"] >= 0.85


def test_leakage_of_golden_items_is_removed_and_listed(project, run_cli):
    leaked = chat("QUESTION:  which river flows through the city of Vienna in Austria ?", "The Danube.", id="leak")
    project.data([*distinct_rows(20), leaked])
    result = run_cli("prepare")
    assert result.exit_code == 0, result.output
    manifest = project.prepare_report()
    assert [(r["id"], r["reason"], r["related"]) for r in manifest["removals"]] == [("leak", "leakage", "qa/g1")]
    assert manifest["counts"]["leakage"] == 1
    assert manifest["golden_sets"][0]["task"] == "qa"
    assert "leak" not in project.split_ids("train.jsonl") + project.split_ids("val.jsonl")


@pytest.mark.parametrize(
    ("policy", "kept", "exit_code"),
    [("drop_all", [], 0), ("keep_first", ["x1"], 0), ("report", ["x1", "x2"], 0), ("fail", None, 2)],
)
def test_contradictions_follow_the_policy(project, run_cli, policy, kept, exit_code):
    project.params["prepare"]["contradictions"] = policy
    project.params["prepare"]["split"] = {"val_fraction": 0.0}
    project.write_params()
    rows = distinct_rows(5)
    project.data([*rows, chat("Is the sky blue?", "Yes.", id="x1"), chat("is the sky  blue?", "No.", id="x2")])
    result = run_cli("prepare")
    assert result.exit_code == exit_code, result.output
    if kept is None:
        assert "data/raw/train.jsonl:7: contradiction: same prompt as data/raw/train.jsonl:6 with a different answer" in result.stderr
        assert not project.prepared.exists()
        return
    ids = project.split_ids("train.jsonl")
    assert [i for i in ids if i.startswith("x")] == kept
    assert project.prepare_report()["contradictions"][0]["ids"] == ["x1", "x2"]


def test_split_is_stable_when_records_are_appended(project, run_cli):
    project.params["prepare"]["split"] = {"val_fraction": 0.3}
    project.write_params()
    first = distinct_rows(200, seed=1)
    project.data(first)
    assert run_cli("prepare").exit_code == 0
    before = {i: "train" for i in project.split_ids("train.jsonl")} | {i: "val" for i in project.split_ids("val.jsonl")}
    assert 30 < sum(v == "val" for v in before.values()) < 90
    project.data(first + distinct_rows(300, seed=2, prefix="new"))
    assert run_cli("prepare").exit_code == 0
    after = {i: "train" for i in project.split_ids("train.jsonl")} | {i: "val" for i in project.split_ids("val.jsonl")}
    assert {i: after[i] for i in before} == before
    assert len(after) == 500


def _prepared_snapshot(project) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(project.prepared.iterdir())}


def test_reordered_or_verbatim_repeated_records_give_the_same_dataset(project, run_cli):
    """A data commit that only reorders records, or appends the same export again (ids included),
    changes nothing that training sees: data/prepared/ stays byte-identical (so `dvc repro`
    retrains nothing), the repeats are removed and listed in the prepare report, not an error.
    Near duplicates and same-text records under other ids are among them: which one of each is
    kept must not depend on the order either."""
    rng = random.Random(5)
    rows = distinct_rows(60, seed=3)
    # Near duplicates (one word changed) and exact duplicates under another id.
    for i in range(8):
        user, answer = rows[i]["messages"][0]["content"], rows[i]["messages"][1]["content"]
        words = user.split()
        words[rng.randrange(len(words))] = "changed"
        rows.append(chat(" ".join(words), answer, id=f"near{i}"))
        rows.append(chat(user.upper(), answer, id=f"same{i}"))
    project.data(rows)
    assert run_cli("prepare").exit_code == 0
    first = _prepared_snapshot(project)
    assert sorted(first) == ["manifest.json", "train.jsonl", "val.jsonl"]
    sha = project.manifest()["dataset_sha256"]
    removed = {r["reason"] for r in project.prepare_report()["removals"]}
    assert removed == {"exact_duplicate", "near_duplicate"}

    for seed in (7, 8, 9):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        project.data(shuffled)
        assert run_cli("prepare").exit_code == 0
        assert _prepared_snapshot(project) == first, seed

    # Split over two files, in another order, plus the same export appended again.
    project.params["prepare"]["inputs"] = [{"path": "data/raw/a.jsonl"}, {"path": "data/raw/b.jsonl"}]
    project.write_params()
    (project.root / "data" / "raw" / "train.jsonl").unlink()
    shuffled = rows[:]
    random.Random(11).shuffle(shuffled)
    write_jsonl(project.root / "data" / "raw" / "a.jsonl", shuffled[:40])
    write_jsonl(project.root / "data" / "raw" / "b.jsonl", shuffled[40:] + rows[:25])
    result = run_cli("prepare")
    assert result.exit_code == 0, result.output
    assert _prepared_snapshot(project) == first
    assert project.manifest()["dataset_sha256"] == sha
    repeats = [r for r in project.prepare_report()["removals"] if r["reason"] == "exact_duplicate" and "(same id)" in r["detail"]]
    assert len(repeats) == 25 and all("verbatim repeat of" in r["detail"] for r in repeats)
    assert {r["id"] for r in repeats} == {r["id"] for r in rows[:25]}


def test_same_input_gives_byte_identical_manifest(project, run_cli):
    project.data(distinct_rows(50))
    assert run_cli("prepare").exit_code == 0
    first = (project.prepared / "manifest.json").read_bytes()
    for path in project.prepared.iterdir():
        path.unlink()
    assert run_cli("prepare").exit_code == 0
    second = (project.prepared / "manifest.json").read_bytes()
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()


def test_manifest_hashes_match_the_files(project, run_cli):
    path = project.data(distinct_rows(40))
    assert run_cli("prepare").exit_code == 0
    manifest = project.manifest()
    assert next(iter(manifest)) == "schema_version" and manifest["schema_version"] == 1
    assert sorted(manifest["files"]) == ["train.jsonl", "val.jsonl"]
    for name, meta in manifest["files"].items():
        assert hashlib.sha256((project.prepared / name).read_bytes()).hexdigest() == meta["sha256"]
    assert manifest["counts"]["train"] + manifest["counts"]["val"] == 40
    report = project.prepare_report()
    assert next(iter(report)) == "schema_version" and report["dataset_sha256"] == manifest["dataset_sha256"]
    assert report["inputs"][0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report["counts"]["read"] == 40
    stats = report["token_lengths"]
    assert stats["count"] == 40 and stats["min"] <= stats["p50"] <= stats["p99"] <= stats["max"]
    metrics = json.loads((project.root / "metrics" / "prepare.json").read_text())
    assert metrics["dataset_sha256"] == manifest["dataset_sha256"]


def test_help_is_instant_and_imports_nothing_heavy():
    code = "import sys, evalgate.cli; heavy = [m for m in ('torch', 'transformers', 'datasketch', 'numpy') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
