"""`evalgate init`: scaffold a new or existing git repository for the gate.

Writes `params.yaml`, `dvc.yaml`, an example task with its rubric, golden set and training data,
the forgetting stage's tasks, the GitHub workflow, Dependabot config and a CODEOWNERS for the
policy, pipeline, workflows and requirements (its owner a placeholder to replace), a Makefile
with `setup` and `pipeline`, and evalgate's `.gitignore` entries; runs `git init` and `dvc init`
where they are missing. A file that exists is never overwritten without `force` (it is listed
as kept); `.gitignore` only gains the entries it lacks. The files come from `files/` beside this
module: `dvc.yaml`, the forgetting tasks, the workflow and the Dependabot config are
byte-identical copies of evalgate's own (a test holds them equal), and `dvc.yaml` loses the code
dependencies on evalgate's source files, which a user's repository does not have (the installed
evalgate is its code).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from evalgate import __version__
from evalgate.artifacts import write_bytes_atomic
from evalgate.errors import InputError

FILES = Path(__file__).parent / "files"

GITIGNORE = (
    "# evalgate: environments, caches and run outputs (DVC holds outputs; the cache dir holds models)",
    ".venv/",
    ".evalgate/",
    "/data/prepared/",
    "/models/",
    "/runs/",
    "/reports/",
    "/registry/*.tmp",
    "/metrics/*",
    "!/metrics/summary.json",
    "/plots/*",
    "!/plots/*.csv",
)
"""What evalgate writes that git must not hold: the run outputs live in DVC's cache and remote,
models in the evalgate cache; the flat metrics and plots stay committed for `dvc metrics diff`."""

_OWN_CODE_DEP = re.compile(rb"^\s+- evalgate/\S+\n", re.MULTILINE)


@dataclass
class InitResult:
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    gitignore_added: int = 0


def scaffold_files() -> dict[str, bytes]:
    """Relative path -> content of every file `init` writes (before `.gitignore`)."""
    out: dict[str, bytes] = {}
    for path in sorted(FILES.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(FILES).as_posix()
        data = path.read_bytes()
        if rel == "dvc.yaml":
            data = _OWN_CODE_DEP.sub(b"", data)
        elif rel == "Makefile":
            data = data.replace(b"__EVALGATE_VERSION__", __version__.encode())
        out[rel] = data
    return out


def _run(cmd: list[str], root: Path) -> None:
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise InputError(f"{' '.join(cmd)} failed in {root}: {(proc.stderr or proc.stdout).strip()}")


def run_init(root: Path, force: bool = False) -> InitResult:
    if root.exists() and not root.is_dir():
        raise InputError(f"{root}: not a directory; give `evalgate init` the repository's directory")
    root.mkdir(parents=True, exist_ok=True)
    result = InitResult()
    if not (root / ".git").exists():
        _run(["git", "init", "-q"], root)
        result.ran.append("git init")
    for rel, data in scaffold_files().items():
        target = root / rel
        if target.exists():
            if target.is_file() and target.read_bytes() == data:
                result.unchanged.append(rel)
                continue
            if not force:
                result.kept.append(rel)
                continue
        write_bytes_atomic(target, data)
        result.written.append(rel)
    result.gitignore_added = _gitignore(root / ".gitignore")
    if not (root / ".dvc").is_dir():
        _run([sys.executable, "-m", "dvc", "init", "-q"], root)
        result.ran.append("dvc init")
    return result


def _gitignore(path: Path) -> int:
    """Append the entries `path` lacks (never rewrites a line); how many were added."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    have = {line.strip() for line in text.splitlines()}
    missing = [e for e in GITIGNORE if e not in have and not e.startswith("#")]
    if not missing:
        return 0
    block = "\n".join([GITIGNORE[0], *missing]) + "\n"
    sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    write_bytes_atomic(path, (text + sep + block).encode())
    return len(missing)
