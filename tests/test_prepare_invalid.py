"""A catalogue of malformed inputs: each gets its exact `file:line: reason`, exit 2, no outputs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import chat

F = "data/raw/train.jsonl"
GOOD = json.dumps(chat("What is two plus two?", "Four."))
GOOD_ALPACA = json.dumps({"instruction": "Name a colour.", "input": "", "output": "Blue."})


def lines(*rows: str) -> str:
    return "".join(r + "\n" for r in rows)


CATALOGUE = [
    ("invalid_json", lines(GOOD, '{"messages": [}'), f"{F}:2: invalid JSON: Expecting value (column 15)"),
    ("truncated_json", lines(GOOD, '{"instruction": "x", "output": "y"'), f"{F}:2: invalid JSON: Expecting ',' delimiter (column 35)"),
    ("mixed_formats", lines(GOOD, '{"instruction": "x", "output": "y"}'), f"{F}:2: record is in alpaca format but the file is chat; use one format per file"),
    ("not_utf8", lines(GOOD).encode() + b'{"messages": "caf\xe9"}\n', f"{F}:2: not valid UTF-8 (byte 0xe9 at column 18); re-encode the file as UTF-8"),
    ("not_an_object", lines(GOOD, "[1, 2, 3]"), f"{F}:2: record must be a JSON object, got array"),
    ("undetectable", lines('{"question": "q", "answer": "a"}'), f"{F}:1: cannot detect the format: expected 'messages' (chat), 'instruction'/'output' (alpaca) or 'prompt'/'completion', got keys: answer, question"),
    ("missing_output", lines(GOOD_ALPACA, '{"instruction": "Name a fruit.", "input": ""}'), f"{F}:2: missing field 'output'"),
    ("empty_instruction", lines(GOOD_ALPACA, '{"instruction": "   ", "input": "", "output": "x"}'), f"{F}:2: field 'instruction' is empty"),
    ("output_not_string", lines(GOOD_ALPACA, '{"instruction": "Count.", "output": 3}'), f"{F}:2: field 'output' must be a string, got number"),
    ("empty_completion", lines('{"prompt": "Hi", "completion": ""}'), f"{F}:1: field 'completion' is empty"),
    ("messages_empty", lines(GOOD, '{"messages": []}'), f"{F}:2: field 'messages' is empty"),
    ("unknown_role", lines(GOOD, json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "hello"}]})), f"{F}:2: messages[1].role: unknown role 'bot'; expected system, user or assistant"),
    ("wrong_role_order", lines(GOOD, json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}]})), f"{F}:2: messages[1]: wrong role order: 'user' after 'user'; expected 'assistant' (an optional system message, then user and assistant turns alternating)"),
    ("assistant_first", lines(json.dumps({"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]})), f"{F}:1: messages[0]: wrong role order: 'assistant' first; expected 'user' (an optional system message, then user and assistant turns alternating)"),
    ("assistant_missing", lines(GOOD, json.dumps({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]})), f"{F}:2: assistant turn missing: the last message must be from the assistant"),
    ("system_not_first", lines(json.dumps({"messages": [{"role": "user", "content": "u"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]})), f"{F}:1: messages[1]: a system message is only allowed first"),
    ("empty_content", lines(json.dumps({"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]})), f"{F}:1: messages[0].content is empty"),
    ("content_not_string", lines(json.dumps({"messages": [{"role": "user", "content": ["x"]}, {"role": "assistant", "content": "a"}]})), f"{F}:1: messages[0].content must be a string, got array"),
    ("missing_content", lines(json.dumps({"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]})), f"{F}:1: messages[0]: missing field 'content'"),
    ("duplicate_id", lines(json.dumps(chat("a", "b", id="x1")), json.dumps(chat("c", "d", id="x1"))), f"{F}:2: duplicate id 'x1' names a different record than at {F}:1; give each record its own id"),
    ("bad_id_type", lines(json.dumps(chat("a", "b", id=["x"]))), f"{F}:1: field 'id' must be a string or integer, got array"),
    ("too_long", lines(GOOD, json.dumps(chat("y" * 5000, "ok"))), f"{F}:2: record has 5010 tokens, over the limit prepare.max_tokens=4096"),
]


@pytest.mark.parametrize(("case", "content", "expected"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_malformed_input_is_reported_exactly(project, run_cli, case, content, expected):
    project.raw(content)
    result = run_cli("prepare")
    assert result.exit_code == 2, result.output
    problem_lines = [ln for ln in result.stderr.splitlines() if ln.startswith(F)]
    assert problem_lines == [expected]
    assert "error:" in result.stderr and "on_invalid: skip" in result.stderr
    assert not project.prepared.exists()
    assert not (project.root / "metrics").exists()


def test_every_bad_record_is_reported_in_one_pass(project, run_cli):
    project.raw(lines(GOOD, "{oops", GOOD, '{"messages": []}', "[]"))
    result = run_cli("prepare")
    assert result.exit_code == 2
    reported = [ln.split(": ")[0] for ln in result.stderr.splitlines() if ln.startswith(F)]
    assert reported == [f"{F}:2", f"{F}:4", f"{F}:5"]


def test_declared_format_overrides_detection(project, run_cli):
    project.params["prepare"]["inputs"] = [{"path": F, "format": "alpaca"}]
    project.write_params()
    project.raw(lines(GOOD))
    result = run_cli("prepare")
    assert result.exit_code == 2
    assert f"{F}:1: record is in chat format but the file is alpaca; use one format per file" in result.stderr


def test_skip_policy_writes_good_records_and_rejects(project, run_cli):
    project.params["prepare"]["on_invalid"] = "skip"
    project.write_params()
    project.raw(lines(GOOD, "{oops", json.dumps(chat("Name a planet.", "Mars."))))
    result = run_cli("prepare")
    assert result.exit_code == 0, result.output
    report = project.prepare_report()
    assert [(r["source"], r["raw"]) for r in report["rejects"]] == [
        (f"{F}:2: invalid JSON: Expecting property name enclosed in double quotes (column 2)", "{oops")
    ]
    assert sorted(p.name for p in project.prepared.iterdir()) == ["manifest.json", "train.jsonl", "val.jsonl"]
    assert report["counts"]["invalid"] == 1
    manifest = project.manifest()
    assert manifest["counts"]["train"] + manifest["counts"]["val"] == 2


def test_existing_outputs_survive_a_failed_run(project, run_cli):
    project.raw(lines(GOOD))
    assert run_cli("prepare").exit_code == 0
    before = {p.name: p.read_bytes() for p in project.prepared.iterdir()}
    project.raw(lines(GOOD, "{broken"))
    assert run_cli("prepare").exit_code == 2
    assert {p.name: p.read_bytes() for p in project.prepared.iterdir()} == before


PARAMS_HEAD = "model:\n  base: {tok}\nprepare:\n  inputs:\n    - path: data/raw/train.jsonl\n"


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("  near_dedup:\n    threshold: 5\n", "params.yaml:7: prepare.near_dedup.threshold: input should be less than or equal to 1 (got 5)"),
        ("  near_dedupe: {}\n", "params.yaml:6: prepare.near_dedupe: unknown key; did you mean 'near_dedup'? allowed keys:"),
        ("      format: sharegpt\n", "params.yaml:6: prepare.inputs[0].format: input should be 'auto', 'alpaca', 'chat' or 'prompt_completion' (got 'sharegpt')"),
        ("  on_invalid: ignore\n", "params.yaml:6: prepare.on_invalid: input should be 'fail' or 'skip' (got 'ignore')"),
        ("  max_tokens: many\n", "params.yaml:6: prepare.max_tokens: input should be a valid integer, unable to parse string as an integer (got 'many')"),
        ("  split: {val_fraction: 1.5}\n", "params.yaml:6: prepare.split.val_fraction: input should be less than 1 (got 1.5)"),
        ("  inputs: [\n", "params.yaml:7: invalid YAML:"),
    ],
    ids=["out_of_range", "typo_key", "bad_format", "bad_policy", "bad_type", "bad_fraction", "bad_yaml"],
)
def test_bad_params_name_file_line_key_and_fix(project, run_cli, tail, expected):
    project.raw(lines(GOOD))
    (project.root / "params.yaml").write_text(PARAMS_HEAD.format(tok=project.params["model"]["base"]) + tail)
    result = run_cli("prepare")
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert not project.prepared.exists()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"prepare": {"inputs": [{"path": "data/raw/nope.jsonl"}]}}, "params.yaml: prepare.inputs[0].path: data/raw/nope.jsonl matches no file; fix the path or add the data file"),
        ({"model": {"base": "no-such-model"}, "prepare": {"inputs": [{"path": F}]}}, "model.base: 'no-such-model' is not a built-in model (smollm2-135m-instruct), an existing directory, a .gguf file or a hub id (owner/name)"),
        ({"model": {"base": "missing/model.gguf"}, "prepare": {"inputs": [{"path": F}]}}, "model.base: GGUF file missing/model.gguf does not exist"),
    ],
    ids=["missing_input", "bad_model", "missing_gguf"],
)
def test_bad_paths_are_one_clean_line(project, run_cli, params, expected):
    project.raw(lines(GOOD))
    project.params = {"model": project.params["model"], **params}
    project.write_params()
    result = run_cli("prepare")
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {expected}\n"
    assert not project.prepared.exists()
