"""No way around the gate: a data or task file runs no code, a pull request is judged by the
base branch's policy, a committed file cannot shadow a library, secrets never reach a message,
and user text is never read as markup."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.test_gate import binary_pairs, gate_report, set_gate, write_eval
from tests.test_judge import SECRET, evaluated, jp, server  # noqa: F401 - fixtures

EXPLOIT = "{{ cycler.__init__.__globals__.os.system('touch PWNED') }}"


# ------------------------------------------------------------------- 1: templates run no code


def test_a_task_template_cannot_run_code(project, run_cli):
    project.task("qa", "Question: {{ question }} " + EXPLOIT, 8, [{"scorer": "exact_match"}])
    result = run_cli("tasks", "validate")
    assert result.exit_code == 2, result.output
    assert "__init__" in result.output and "reach into Python internals" in result.output
    assert not (project.root / "PWNED").exists()


@pytest.mark.parametrize(
    "template",
    [
        "{{ question.__class__ }}",
        "{{ question['__class__'] }}",
        "{% set g = lipsum|attr('__globals__') %}{{ g }}",  # a filter the static check cannot see
        "{{ question.upper.__self__ }}",
    ],
)
def test_the_sandbox_refuses_what_the_static_check_misses(project, template):
    from evalgate.errors import ConfigError
    from evalgate.tasks import Task, TaskSpec

    spec = TaskSpec.model_validate({"name": "qa", "golden_set": "golden_sets/qa.jsonl", "user_template": template, "scorers": [{"scorer": "exact_match"}]})
    task = Task(spec, project.root / "tasks" / "qa.yaml")
    with pytest.raises(ConfigError) as err:
        task.messages({"question": "hi"})
    assert "user_template" in str(err.value)


def test_ordinary_templates_still_render(project):
    from evalgate.tasks import Task, TaskSpec

    template = "{% for k, v in meta.items() %}{{ k }}={{ v | upper }};{% endfor %} {{ question | trim }} {{ range(3) | list }}"
    spec = TaskSpec.model_validate({"name": "qa", "golden_set": "golden_sets/qa.jsonl", "user_template": template, "scorers": [{"scorer": "exact_match"}]})
    msgs = Task(spec, project.root / "tasks" / "qa.yaml").messages({"question": " hi ", "meta": {"a": "x"}})
    assert msgs[-1]["content"] == "a=X; hi [0, 1, 2]"


# ------------------------------------------------------------- 2: the base branch's policy decides


def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _commit_all(root, message: str) -> str:
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", message)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


STRICT = [
    {"target": "qa/acc", "kind": "min", "threshold": 0.80},
    {"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.02},
    {"target": "qa/fmt", "kind": "max_drop_vs_base", "margin": 0.02},
]


def test_a_pull_request_that_weakens_three_checks_is_decided_under_the_base_policy(project, run_cli):
    base_acc, cand_acc = binary_pairs(300, 0.85, 0.74)
    base_fmt, cand_fmt = binary_pairs(300, 0.95, 0.88, seed=1)
    write_eval(project.root, {"acc": base_acc, "fmt": base_fmt}, {"acc": cand_acc, "fmt": cand_fmt})
    set_gate(project, STRICT)
    _git(project.root, "init", "-q")
    base_sha = _commit_all(project.root, "base policy")

    # The pull request: every check loosened until this candidate passes, and more.
    weak = [
        {"target": "qa/acc", "kind": "min", "threshold": 0.50},
        {"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.30},
        {"target": "qa/fmt", "kind": "max_drop_vs_base", "margin": 0.30},
    ]
    set_gate(project, weak, uninformative="warn")
    _commit_all(project.root, "weaken the policy")
    assert run_cli("gate").exit_code == 0  # under its own policy it would pass

    result = run_cli("gate", "--policy-ref", base_sha)
    assert result.exit_code == 1, result.output
    report = gate_report(project)
    assert report["verdict"] == "fail"
    assert {c["verdict"] for c in report["checks"]} == {"fail"}  # the base's checks decided
    assert report["provenance"]["policy"]["checks"][0]["threshold"] == 0.80
    policy = report["policy_source"]
    assert policy["base_ref"] == base_sha and not policy["introduced"]
    kinds = [c["kind"] for c in policy["changes"]]
    assert kinds == ["weakened"] * 4, policy["changes"]  # three checks and uninformative: warn
    texts = " | ".join(c["text"] for c in policy["changes"])
    assert "threshold 0.8 → 0.5" in texts and "margin 0.02 → 0.3" in texts and "gate.uninformative: fail → warn" in texts
    assert policy["under_new_policy"]["verdict"] == "pass"
    assert "weakened" in result.stderr and "decided under the base branch's" in result.stderr

    # The same from the environment variable the workflow sets, and in the PR comment.
    env_result = subprocess.run(
        [sys.executable, "-P", "-m", "evalgate", "gate", "--no-fail"],
        cwd=project.root, env={**__import__("os").environ, "EVALGATE_POLICY_REF": base_sha}, capture_output=True, text=True,
    )  # fmt: skip
    assert env_result.returncode == 0, env_result.stderr
    assert gate_report(project)["verdict"] == "fail"
    md = summary_head(gate_report(project))
    assert "decided under the base branch's policy" in md and md.count("**weakened**") == 4
    assert "Under this pull request's own policy: **PASS**" in md


def summary_head(report: dict) -> str:
    """The head of summary.md (the verdict and the policy), rendered from the real template."""
    from evalgate.report.context import _verdict
    from evalgate.report.render import _env

    class Gate:
        state, problem = report["verdict"], None

    Gate.report = report

    class Inputs:
        gate = Gate

    env = _env(autoescape=False)
    head = env.loader.get_source(env, "summary.md.j2")[0].split("{% for group, title in", 1)[0]
    return env.from_string(head).render(verdict=_verdict(Inputs), dirty=None)


def test_a_pull_request_that_tightens_the_policy_is_held_to_both(project, run_cli):
    base_acc, cand_acc = binary_pairs(300, 0.85, 0.84)
    write_eval(project.root, {"acc": base_acc}, {"acc": cand_acc})
    set_gate(project, [{"target": "qa/acc", "kind": "min", "threshold": 0.70}])
    _git(project.root, "init", "-q")
    base_sha = _commit_all(project.root, "base")
    set_gate(project, [{"target": "qa/acc", "kind": "min", "threshold": 0.83}])
    result = run_cli("gate", "--policy-ref", base_sha)
    assert result.exit_code == 1
    report = gate_report(project)
    assert report["checks"][0]["verdict"] == "pass"  # the base policy passes it ...
    assert report["policy_source"]["changes"][0]["kind"] == "tightened"
    assert report["policy_source"]["under_new_policy"]["verdict"] == "fail"  # ... its own does not
    assert "the policy this pull request brings fails it" in report["summary"]


def test_policy_ref_fails_closed_and_a_first_policy_is_said_so(project, run_cli):
    base_acc, cand_acc = binary_pairs(100, 0.85, 0.85)
    write_eval(project.root, {"acc": base_acc}, {"acc": cand_acc})
    set_gate(project, [{"target": "qa/acc", "kind": "min", "threshold": 0.5}])
    _git(project.root, "init", "-q")
    (project.root / "README.md").write_text("x\n")
    _git(project.root, "add", "README.md")
    _git(project.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "before evalgate")
    first = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project.root, check=True, capture_output=True, text=True).stdout.strip()
    result = run_cli("gate", "--policy-ref", "0" * 40)
    assert result.exit_code == 2 and "no such commit" in result.output
    result = run_cli("gate", "--policy-ref", first)  # the base has no params.yaml yet
    assert result.exit_code == 0 and gate_report(project)["policy_source"]["introduced"]
    assert "no gate policy yet" in result.output
    good = (project.root / "params.yaml").read_text()
    bad = yaml.safe_load(good)
    bad["gate"]["confidence"] = 7
    (project.root / "params.yaml").write_text(yaml.safe_dump(bad))
    broken = _commit_all(project.root, "a policy this evalgate cannot load")
    (project.root / "params.yaml").write_text(good)
    result = run_cli("gate", "--policy-ref", broken)
    assert result.exit_code == 2 and "gate.confidence" in result.output


# -------------------------------------------------------------- 6: plugins shadow no library


def test_a_committed_file_named_like_a_library_does_not_shadow_it(project, run_cli, monkeypatch):
    import evalgate.checks  # noqa: F401

    (project.root / "team_plugin.py").write_text("import colorsys\nLOADED = colorsys.__name__\n")
    (project.root / "colorsys.py").write_text("raise SystemExit('the repository shadowed the standard library')\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    sys.modules.pop("colorsys", None)
    try:
        project.params["plugins"] = ["team_plugin"]
        project.write_params()
        from evalgate.config import load_params

        load_params(project.root / "params.yaml")
        assert sys.modules["team_plugin"].LOADED == "colorsys"
        assert str(project.root) not in sys.path and "." not in sys.path[:1]
        assert sys.modules["colorsys"].__file__ != str(project.root / "colorsys.py")
    finally:
        sys.modules.pop("team_plugin", None)


def test_a_local_plugin_package_and_a_missing_one(project, run_cli):
    pkg = project.root / "team" / "checks"
    pkg.mkdir(parents=True)
    (project.root / "team" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from . import extra\n")
    (pkg / "extra.py").write_text("VALUE = 42\n")
    try:
        project.params["plugins"] = ["team.checks"]
        project.write_params()
        from evalgate.config import load_params

        load_params(project.root / "params.yaml")
        assert sys.modules["team.checks.extra"].VALUE == 42
        project.params["plugins"] = ["team.nothing"]
        project.write_params()
        result = run_cli("tasks", "validate")
        assert result.exit_code == 2 and "plugins[0]: cannot import 'team.nothing'" in result.output
    finally:
        for name in ("team", "team.checks", "team.checks.extra"):
            sys.modules.pop(name, None)


# ---------------------------------------------------------------- 7: no secret in a message


def test_a_401_that_echoes_the_key_does_not_print_it(jp, run_cli):  # noqa: F811
    jp.server.script("", ["401echo"] * 200)
    result = run_cli("judge")
    assert result.exit_code == 3, result.output
    assert SECRET not in result.output
    assert "401" in result.output and "[redacted EVALGATE_TEST_JUDGE_KEY]" in result.output
    for path in jp.root.rglob("*"):  # nor in a ledger, a cache or a partial artifact
        if path.is_file() and path.stat().st_size < 50_000_000:
            assert SECRET.encode() not in path.read_bytes(), path


def test_redact_covers_environment_secrets_and_tracebacks(monkeypatch, capsys):
    from evalgate import cli
    from evalgate.redact import redact

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-abcdef123456")
    monkeypatch.setenv("SOME_FLAG", "sk-not-a-secret-name")
    assert redact("key sk-ant-abcdef123456 here") == "key [redacted ANTHROPIC_API_KEY] here"
    assert redact("sk-not-a-secret-name") == "sk-not-a-secret-name"

    def boom():
        raise RuntimeError("bug while holding sk-ant-abcdef123456")

    monkeypatch.setattr(cli, "app", boom)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 3
    err = capsys.readouterr().err
    assert "sk-ant-abcdef123456" not in err and "[redacted ANTHROPIC_API_KEY]" in err


# ------------------------------------------------------------------ 8: user text is not markup


def test_a_task_named_like_markup_is_printed_as_it_is(project, run_cli):
    """The name is refused (task names are identifiers) in one line quoting it, not a crash."""
    spec = yaml.safe_load((project.root / "tasks" / "qa.yaml").read_text())
    (project.root / "tasks" / "qa.yaml").write_text(yaml.safe_dump({**spec, "name": "[/oops]"}))
    for command in (["tasks", "validate"],):
        result = run_cli(*command)
        assert result.exit_code == 2, result.output
        assert "internal error" not in result.output and "(got '[/oops]')" in result.output


def test_messages_quoting_user_text_keep_every_bracket(capsys):
    from evalgate.ui import console, info, print_gate, warn

    info("field [a-z0-9] and [bold]x[/bold] and [/oops]")
    warn("value [red]y[/red] [link=http://e]z[/link]")
    print_gate(
        {"verdict": "fail", "summary": "[/s]", "checks": [{"verdict": "fail", "name": "[x] kind", "reason": "[/r] [b]", "warnings": ["[/w]"]}]},
        "[p]",
    )
    console.file.flush()
    err = capsys.readouterr().err
    for text in ("[a-z0-9]", "[bold]x[/bold]", "[/oops]", "[red]y[/red]", "[link=http://e]z[/link]", "[x] kind", "[/r] [b]", "[/w]", "[/s]"):
        assert text in err, text


def test_markdown_and_html_escape_what_a_pull_request_wrote():
    from evalgate.report.render import md, render_html  # noqa: F401

    text = md("[click](http://evil.example) ![img](http://t.example/x.png) @org/team `code` <script>|")
    assert "[click](" not in text and "![img](" not in text and "@org" not in text.replace("\\@org", "")
    assert "<script>" not in text and "\\|" in text and json.dumps(text)
