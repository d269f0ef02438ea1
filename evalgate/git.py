"""The git commit a run came from (provenance), without failing outside a repository."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_commit(root: Path = Path(".")) -> str | None:
    """HEAD's sha, with `+dirty` when tracked files differ; None outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}+dirty" if dirty else sha
