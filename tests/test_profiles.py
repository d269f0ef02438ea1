"""Every file in pipelines/ is a complete params file: it validates, it has every section a DVC
stage reads, and `dvc repro` with it plans every stage of dvc.yaml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILES = sorted(p.name for p in (REPO / "pipelines").glob("*.yaml"))
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_validates_and_has_every_section_a_stage_reads(profile):
    from evalgate.config import load_params

    params = load_params(REPO / "pipelines" / profile)
    assert params.train.device == "cuda" and params.train.quantization == "nf4"
    raw = yaml.safe_load((REPO / "pipelines" / profile).read_text())
    for name, stage in STAGES.items():
        for key in stage.get("params", []):
            assert key in raw, f"pipelines/{profile} has no `{key}:` section, which the {name} stage reads"


@pytest.mark.parametrize("profile", ["params.yaml", *(f"pipelines/{p}" for p in PROFILES)])
def test_dvc_repro_dry_lists_every_stage(profile, tmp_path):
    """`dvc repro --dry --force` in a scratch DVC project holding the repository's dvc.yaml and
    inputs, with the profile as params.yaml."""
    dvc = Path(sys.executable).with_name("dvc")
    if not dvc.exists():
        dvc = Path(shutil.which("dvc") or "dvc")
    for rel in ("data/raw", "golden_sets", "tasks", "registry", "evalgate"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(REPO / rel, tmp_path / rel, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    shutil.copy(REPO / profile, tmp_path / "params.yaml")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([str(dvc), "init", "-q"], cwd=tmp_path, check=True)
    proc = subprocess.run([str(dvc), "repro", "--dry", "--force"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    planned = [line.split("'")[1] for line in proc.stdout.splitlines() if line.startswith("Running stage '")]
    assert planned == list(STAGES), planned
