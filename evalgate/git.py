"""The git commit a run came from (provenance), without failing outside a repository.

A run is "dirty" when a tracked *input* differs from the commit. Files the pipeline writes
itself (`dvc.lock` and every output, metric and plot `dvc.yaml` declares, `reports/`, the
promotion registry) change on every run and are committed after it, so they do not count.
"""

from __future__ import annotations

import fnmatch
import subprocess
from pathlib import Path
from typing import Any

ALWAYS_WRITTEN = ("dvc.lock", "reports/*", "registry/*")


def pipeline_outputs(root: Path) -> list[str]:
    """Path patterns the pipeline writes: dvc.lock, reports/, registry/, and every `outs`,
    `metrics` and `plots` entry of dvc.yaml (a directory stands for everything under it)."""
    patterns = list(ALWAYS_WRITTEN)
    try:
        import yaml

        spec = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, ImportError):
        return patterns
    stages = spec.get("stages") if isinstance(spec, dict) else None
    for stage in (stages or {}).values():
        if not isinstance(stage, dict):
            continue
        for key in ("outs", "metrics", "plots"):
            for entry in stage.get(key) or []:
                path = next(iter(entry), None) if isinstance(entry, dict) else entry
                if isinstance(path, str):
                    path = path.rstrip("/")
                    patterns += [path, f"{path}/*"]
    return patterns


def _is_output(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) for p in patterns)


def git_state(root: Path = Path(".")) -> dict[str, Any] | None:
    """{"commit": sha, "dirty": [changed tracked inputs]}; None outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "-z"],
            cwd=root, capture_output=True, text=True, check=True, timeout=30,
        ).stdout
        prefix = subprocess.run(
            ["git", "rev-parse", "--show-prefix"], cwd=root, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    patterns = pipeline_outputs(root)
    changed = []
    entries = status.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if "R" in code or "C" in code:
            i += 1  # the rename's source path follows
        rel = path[len(prefix) :] if prefix and path.startswith(prefix) else path
        if not _is_output(rel, patterns):
            changed.append(rel)
    return {"commit": sha, "dirty": sorted(changed)}


def git_commit(root: Path = Path(".")) -> str | None:
    """HEAD's sha, with `+dirty` when a tracked input differs from it; None outside git."""
    state = git_state(root)
    if state is None:
        return None
    return f"{state['commit']}+dirty" if state["dirty"] else state["commit"]
