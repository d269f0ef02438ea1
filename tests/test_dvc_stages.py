"""dvc.yaml: every stage depends on the source it runs (so a code change re-runs what it affects),
on the inputs it reads, and nothing is always_changed (a repro with nothing changed does nothing).

The code a stage runs is found statically: the CLI function of its command, then every evalgate
module imported from there, at any depth. An import marked `# dvc: validation only` (params.yaml
validation looking up a registry) cannot change a stage's outputs and is not followed."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "evalgate"
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def module_file(name: str) -> Path | None:
    rel = Path(*name.split("."))
    for candidate in (REPO / rel.with_suffix(".py"), REPO / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path, node: ast.AST | None = None) -> set[str]:
    """Every evalgate module `path` (or one function of it) imports, at any depth of the code."""
    tree = node if node is not None else ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(REPO).with_suffix("").parts)
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0] + ".__init__"
    lines = path.read_text(encoding="utf-8").splitlines()
    out: set[str] = set()
    for sub in ast.walk(tree):
        if isinstance(sub, (ast.Import, ast.ImportFrom)) and "# dvc: validation only" in lines[sub.lineno - 1]:
            continue
        if isinstance(sub, ast.Import):
            out |= {a.name for a in sub.names if a.name.split(".")[0] == "evalgate"}
        elif isinstance(sub, ast.ImportFrom):
            base = sub.module or ""
            if sub.level:
                parent = package.split(".")[: -sub.level]
                base = ".".join([*parent, base] if base else parent)
            if base.split(".")[0] != "evalgate":
                continue
            out.add(base)
            out |= {f"{base}.{a.name}" for a in sub.names if module_file(f"{base}.{a.name}")}
    return out


def closure(roots: set[str]) -> set[Path]:
    """The files of the given modules, their parent packages and everything they import."""
    seen: set[Path] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
            path = module_file(".".join(parts[:i]))
            if path is None or path in seen:
                continue
            seen.add(path)
            todo.extend(imports_of(path))
    return seen


def command_files(command: str) -> set[Path]:
    """The files `evalgate <command>` runs: cli.py with its module-level imports and the imports
    of that command's function (the other commands' lazy imports are not this stage's code)."""
    cli = PACKAGE / "cli.py"
    tree = ast.parse(cli.read_text(encoding="utf-8"))
    top = {n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))}
    roots = set().union(*(imports_of(cli, ast.Module(body=[n], type_ignores=[])) for n in top))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == command:
            return {cli, *closure(roots | imports_of(cli, node))}
    raise AssertionError(f"no CLI function for `evalgate {command}`")


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(REPO)
    return any(rel == Path(d) or Path(d) in rel.parents for d in deps)


def dep_paths(stage: dict) -> list[str]:
    return [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]


@pytest.mark.parametrize("name", list(STAGES))
def test_stage_depends_on_the_code_it_runs(name):
    stage = STAGES[name]
    command = stage["cmd"].split()[1]
    deps = dep_paths(stage)
    missing = sorted(str(p.relative_to(REPO)) for p in command_files(command) if not covered(p, deps))
    assert not missing, f"dvc.yaml stage {name} runs code it does not depend on: {missing}"


@pytest.mark.parametrize("name", list(STAGES))
def test_no_stage_is_always_changed_and_every_dep_exists_or_is_produced(name):
    stage = STAGES[name]
    assert not stage.get("always_changed"), f"stage {name} is always_changed: a no-op repro would run it"
    produced = set()
    for other in STAGES.values():
        for section in ("outs", "metrics", "plots"):
            produced |= {o if isinstance(o, str) else next(iter(o)) for o in other.get(section, [])}
    tracked = set(subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split())
    for dep in dep_paths(stage):
        in_repo = dep in tracked or any(t.startswith(dep.rstrip("/") + "/") for t in tracked)
        # a file inside another stage's output directory is produced by that stage
        by_stage = any(dep == out or dep.startswith(out.rstrip("/") + "/") for out in produced)
        assert in_repo or by_stage, f"stage {name} depends on {dep}, which is neither tracked in the repository nor produced by a stage"


def test_the_closure_sees_lazy_imports():
    """The dependency scan is not vacuous: the gate command reaches the statistics module."""
    files = {str(p.relative_to(REPO)) for p in command_files("gate")}
    assert "evalgate/stats.py" in files and "evalgate/config.py" in files


def test_dvc_yaml_runs_the_stages_in_the_package_order():
    from evalgate.stages import PIPELINE

    assert tuple(STAGES)[: len(PIPELINE)] == PIPELINE and list(STAGES)[len(PIPELINE):] == ["verdict"]
    for name in PIPELINE:
        assert (PACKAGE / "stages" / f"{name}.py").is_file()
