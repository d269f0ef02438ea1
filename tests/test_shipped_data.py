"""The bundled example domains: big enough, no leakage, reproducible from their script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED = [
    "data/raw/ticket_triage.jsonl",
    "data/raw/alarm_summary.jsonl",
    "data/raw/alarm_summary_noc.jsonl",
    "golden_sets/ticket_triage.jsonl",
    "golden_sets/alarm_summary.jsonl",
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`evalgate prepare` with the repository's own params.yaml and the real default tokenizer."""
    root = tmp_path_factory.mktemp("shipped")
    for name in ("params.yaml", "tasks", "data/raw", "golden_sets"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name)
        else:
            shutil.copy(src, root / name)
    out = subprocess.run(
        [sys.executable, "-m", "evalgate", "prepare"], cwd=root, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    # The prepare report: inputs, golden sets, every removal with its file:line.
    manifest = json.loads((root / "reports" / "prepare.json").read_text())
    ids = [
        json.loads(line)["id"]
        for split in ("train.jsonl", "val.jsonl")
        for line in (root / "data" / "prepared" / split).read_text().splitlines()
    ]
    return {"manifest": manifest, "ids": ids}


def test_shipped_data_has_no_leakage_and_enough_items(prepared):
    manifest = prepared["manifest"]
    assert manifest["counts"]["invalid"] == 0
    assert manifest["counts"]["leakage"] == 0
    assert sum(i.startswith("tt-") for i in prepared["ids"]) >= 400
    assert sum(i.startswith(("as-", "asn-")) for i in prepared["ids"]) >= 400
    assert {g["task"]: g["items"] for g in manifest["golden_sets"]} == {
        "alarm_summary": 300,
        "ticket_triage": 300,
    }
    reasons = sorted(r["reason"] for r in manifest["removals"])
    assert reasons == ["exact_duplicate"] * 4 + ["near_duplicate"] * 4
    assert manifest["format_mix"] == {"alpaca": 380, "chat": 540, "prompt_completion": 150}


@pytest.mark.slow
def test_example_data_is_reproducible_from_its_script(tmp_path):
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_example_data.py"), "--out-root", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in SHIPPED:
        assert (tmp_path / name).read_bytes() == (REPO / name).read_bytes(), name
