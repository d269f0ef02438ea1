"""`evalgate init` end to end: scaffold a git repository, `dvc repro` there with a tiny model
through every stage (judge and forgetting included, offline) to a gate verdict, push the run to
a local DVC remote, and pull it on a second clone whose `dvc repro` is then a no-op."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evalgate.scaffold import run_init

BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "EVALGATE_NO_PROGRESS": "1",
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
    }  # fmt: skip


def sh(cwd: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), cwd=cwd, env=_env(), capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def said(proc: subprocess.CompletedProcess[str]) -> str:
    """What a command printed (evalgate writes its messages to stderr)."""
    return proc.stdout + proc.stderr


def dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(cwd, sys.executable, "-m", "dvc", *args, check=check)


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not {".git", "cache", "tmp"} & set(p.relative_to(root).parts[:2])
    }


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory, tiny_model_dir):
    """A git repository after `evalgate init`, its params pointed at the tiny model and sized for
    a test, with the whole pipeline reproduced and committed."""
    root = tmp_path_factory.mktemp("user-repo")
    sh(root, "git", "init", "-q")
    (root / "README.md").write_text("my project\n")
    init = said(sh(root, str(BIN / "evalgate"), "init"))
    assert "wrote    params.yaml" in init and "make pipeline" in init, init
    assert "ran      dvc init" in init
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["model"]["base"] = str(tiny_model_dir)
    params["train"].update(
        lora={"r": 4, "alpha": 8, "target_modules": "all-linear"}, epochs=1, max_length=256, max_train_records=32,
        replay={"records": 8, "max_tokens": 32}, compute_dtype="float32",
    )  # fmt: skip
    params["evaluate"].update(max_batch_size=8, token_budget=4096)
    params["judge"].update(max_items_per_task=4, token_budget=4096)
    params["forgetting"] = {"tasks_dir": "tasks/forgetting", "tasks": ["arc_easy", "lambada_text"], "max_items_per_task": 6, "batch_size": 8}
    # A random tiny model cannot do the example task, nor judge (its digits 1-5 hold too little
    # probability, so every grade is unscored and a judge check would stop the gate with exit 2);
    # a policy it can pass keeps the verdict
    # (and so the last stage) green, so the pipeline locks and the second clone has a no-op.
    params["gate"].update(
        resamples=1000, uninformative="warn",
        checks=[
            {"target": "example/json_valid", "kind": "max_drop_vs_base", "margin": 1.0},
            {"target": "forgetting:lambada_text/bits_per_byte", "kind": "max_drop_vs_base", "margin": 5.0},
        ],
    )  # fmt: skip
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    repro = dvc(root, "repro")
    for stage in ("prepare", "train", "evaluate", "judge", "forgetting", "gate", "report", "verdict"):
        assert f"Running stage '{stage}'" in repro.stdout, repro.stdout
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "first run")
    return root


def test_init_then_dvc_repro_reaches_a_gate_verdict_through_every_stage(scaffolded):
    gate = json.loads((scaffolded / "reports" / "gate.json").read_text())
    assert gate["verdict"] == "pass", gate["summary"]
    targets = {c["target"] for c in gate["checks"]}
    assert {"example/json_valid", "forgetting:lambada_text/bits_per_byte"} <= targets
    judge = json.loads((scaffolded / "metrics" / "judge.json").read_text())
    assert judge["requests"]["total"] == 8 and judge["tasks"]["example"]["accuracy"]["rubric"] == "example_quality"
    assert json.loads((scaffolded / "metrics" / "forgetting.json").read_text())["tasks"].keys() >= {"arc_easy", "lambada_text"}
    summary = (scaffolded / "reports" / "summary.md").read_text()
    assert "gate PASS" in summary or "gate passed" in summary.lower(), summary[:400]
    ignored = (scaffolded / ".gitignore").read_text()
    assert "/models/" in ignored and "/runs/" in ignored
    tracked = sh(scaffolded, "git", "ls-files").stdout.split()
    assert not [t for t in tracked if t.startswith(("models/", "runs/", "data/prepared/"))], tracked


def test_a_second_init_without_force_changes_no_user_file(scaffolded):
    (scaffolded / "params.yaml").write_text((scaffolded / "params.yaml").read_text() + "# my edit\n")
    (scaffolded / "tasks" / "example.yaml").write_text("# mine now\n" + (scaffolded / "tasks" / "example.yaml").read_text())
    before = snapshot(scaffolded)
    again = said(sh(scaffolded, str(BIN / "evalgate"), "init"))
    assert snapshot(scaffolded) == before
    assert "kept     params.yaml (yours differs; --force overwrites it)" in again
    assert "kept     tasks/example.yaml" in again and "wrote" not in again, again
    forced = said(sh(scaffolded, str(BIN / "evalgate"), "init", "--force"))
    assert "wrote    params.yaml" in forced and "# my edit" not in (scaffolded / "params.yaml").read_text()
    sh(scaffolded, "git", "checkout", "--", "params.yaml", "tasks/example.yaml")


def test_a_run_pushed_to_a_local_remote_is_a_no_op_on_a_second_clone(scaffolded, tmp_path):
    remote = tmp_path / "dvc-remote"
    dvc(scaffolded, "remote", "add", "-d", "shared", str(remote))
    sh(scaffolded, "git", "commit", "-qam", "a DVC remote")
    dvc(scaffolded, "push", "--run-cache")
    second = tmp_path / "second-machine"
    sh(tmp_path, "git", "clone", "-q", str(scaffolded), str(second))
    assert not (second / "models" / "adapter").exists()
    dvc(second, "pull", "--run-cache")
    assert (second / "models" / "adapter" / "adapter_model.safetensors").is_file()
    status = dvc(second, "status")
    assert "up to date" in status.stdout, status.stdout
    repro = dvc(second, "repro")
    assert "Running stage" not in repro.stdout, repro.stdout
    assert (second / "reports" / "gate.json").read_bytes() == (scaffolded / "reports" / "gate.json").read_bytes()


def test_a_commit_that_only_reorders_and_repeats_records_retrains_nothing(scaffolded):
    """The same data is the same input: shuffling the raw records and appending some of them
    again verbatim leaves data/prepared/ byte-identical, so `dvc repro` reruns prepare (and the
    report, which lists what prepare removed) but never train, evaluate, judge or forgetting."""
    import random

    prepared = {p.name: p.read_bytes() for p in (scaffolded / "data" / "prepared").iterdir()}
    repeated = 0
    for path in sorted((scaffolded / "data" / "raw").glob("*.jsonl")):
        lines = [x for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        shuffled = lines[:]
        random.Random(path.name).shuffle(shuffled)
        repeated += len(lines) // 5
        path.write_text("\n".join(shuffled + lines[: len(lines) // 5]) + "\n", encoding="utf-8")
    repro = dvc(scaffolded, "repro")
    assert "Running stage 'prepare'" in repro.stdout, repro.stdout
    for stage in ("train", "evaluate", "judge", "forgetting", "gate"):
        assert f"Running stage '{stage}'" not in repro.stdout, (stage, repro.stdout)
    assert {p.name: p.read_bytes() for p in (scaffolded / "data" / "prepared").iterdir()} == prepared
    report = json.loads((scaffolded / "reports" / "prepare.json").read_text())
    assert repeated > 0 and sum("(same id)" in r["detail"] for r in report["removals"]) == repeated
    sh(scaffolded, "git", "checkout", "--", "data/raw")
    dvc(scaffolded, "repro")


# ----------------------------------------------------------------- fast: the files only


def _bare(root: Path) -> Path:
    """A directory `run_init` treats as a git and DVC repository already, so it runs neither."""
    (root / ".git").mkdir(parents=True)
    (root / ".dvc").mkdir()
    return root


def _owners(text: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip() and not line.startswith("#")}


def test_init_writes_a_codeowners_for_the_policy_pipeline_workflows_and_requirements(tmp_path):
    result = run_init(_bare(tmp_path))
    assert ".github/CODEOWNERS" in result.written
    text = (tmp_path / ".github" / "CODEOWNERS").read_text()
    rules = _owners(text)
    for pattern in ("/params.yaml", "/dvc.yaml", "/dvc.lock", "/.dvc/", "/registry/", "/.github/", "/requirements/", "/pyproject.toml", "/Makefile", "/tasks/", "/golden_sets/"):
        assert rules.get(pattern) == ["@your-org/evalgate-owners"], pattern
    assert "Replace @your-org/evalgate-owners" in text and '"Require review from Code Owners"' in text
    # Every file init writes that decides the gate is covered; the training data (what the gate
    # is for) is not.
    def owned(rel: str) -> bool:
        return any(rel == p.lstrip("/") or (p.endswith("/") and rel.startswith(p.lstrip("/"))) for p in rules)

    written = set(result.written)
    assert {"params.yaml", "dvc.yaml", "Makefile", ".github/workflows/evalgate.yml", ".github/CODEOWNERS", "registry/.gitkeep"} <= written
    assert [rel for rel in written if not owned(rel) and not rel.startswith("data/")] == []
    assert not owned("data/raw/example.jsonl")


def test_init_keeps_a_codeowners_that_exists(tmp_path):
    mine = _bare(tmp_path) / ".github" / "CODEOWNERS"
    mine.parent.mkdir()
    mine.write_text("* @me\n")
    result = run_init(tmp_path)
    assert mine.read_text() == "* @me\n" and ".github/CODEOWNERS" in result.kept


def test_the_scaffold_example_data_is_reproducible_from_its_script(tmp_path):
    """The example that `init` writes comes from scripts/example_data/reviews.py, which keeps
    every training record past prepare's near-duplicate check and every golden item below its
    leakage threshold."""
    repo = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, str(repo / "scripts" / "example_data" / "reviews.py"), "--out-root", str(tmp_path)], check=True, capture_output=True)
    files = repo / "evalgate" / "scaffold" / "files"
    for rel in ("data/raw/example.jsonl", "golden_sets/example.jsonl"):
        assert (tmp_path / rel).read_bytes() == (files / rel).read_bytes(), rel


# ------------------------------------------------- slow: the first run a new user makes


@pytest.mark.slow
def test_init_then_dvc_repro_on_the_built_in_model_passes_its_own_policy(tmp_path):
    """What a new user does, unchanged: `evalgate init` in an empty git repository, then
    `dvc repro` on the built-in model. The example must pass its own policy for the right
    reasons: the candidate learned the task (floors on the lower bound of each 150-item
    interval, a gain over the base), kept its general ability, and nothing is waived but the
    checks that cannot apply to a first run."""
    root = tmp_path / "my-repo"
    root.mkdir()
    sh(root, "git", "init", "-q")
    (root / "README.md").write_text("my project\n")
    sh(root, str(BIN / "evalgate"), "init")
    repro = dvc(root, "repro", check=False)
    gate = json.loads((root / "reports" / "gate.json").read_text())
    verdicts = {f"{c['target']} {c['kind']}": c["verdict"] for c in gate["checks"]}
    assert repro.returncode == 0 and gate["verdict"] == "pass", (verdicts, repro.stdout[-3000:], repro.stderr[-3000:])
    assert verdicts == {
        "example/json_valid min": "pass",
        "example/sentiment_exact min": "pass",
        "example/sentiment_exact min_gain_vs_base": "pass",
        "example/topic_exact min": "pass",
        "example/topic_exact max_drop_vs_promoted": "skipped",  # no promoted run yet
        "judge:example/accuracy min": "advisory",  # no people's grades yet: the judge is not trusted
        "forgetting:arc_easy/acc max_drop_vs_base": "pass",
        "forgetting:lambada_text/bits_per_byte max_drop_vs_base": "pass",
    }
    train = json.loads((root / "metrics" / "train.json").read_text())
    assert train["early_stopped"] or train["epochs"] == train["epochs_planned"], train  # never cut by a clock
    example = json.loads((root / "metrics" / "eval.json").read_text())["tasks"]["example"]
    assert example["json_valid"]["base"] < 0.2 and example["sentiment_exact"]["base"] < 0.2  # the base cannot do it
