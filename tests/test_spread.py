"""`evalgate spread`: benign retrains of the same data, the spread of every gated bound, and the
floors and margins that spread supports."""

from __future__ import annotations

import json
import math
import random

import pytest
from scipy import stats

from evalgate.spread import Retrain, analyse, fail_probability, prediction_low
from tests.conftest import chat


def _gate(verdict_of: dict[str, tuple[float, float, float]], kind_of: dict[str, str]) -> dict:
    checks = []
    for name, (lo, hi, thr) in verdict_of.items():
        ok = lo >= thr
        checks.append({"name": name, "target": f"t/{name}", "kind": kind_of[name], "verdict": "pass" if ok else "fail",
                       "estimate": (lo + hi) / 2, "ci": [lo, hi], "threshold": thr})  # fmt: skip
    return {"verdict": "fail" if any(c["verdict"] == "fail" for c in checks) else "pass", "checks": checks}


def test_prediction_bound_and_fail_probability_are_student_t():
    values = [0.90, 0.92, 0.91, 0.93, 0.89, 0.92, 0.90, 0.91]
    n, mean = len(values), sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    low = prediction_low(values, 0.01)
    assert low == pytest.approx(mean - stats.t.ppf(0.99, n - 1) * sd * math.sqrt(1 + 1 / n))
    # A threshold at the bound is cleared with exactly that probability.
    assert fail_probability(values, low) == pytest.approx(0.01)
    assert fail_probability(values, mean) == pytest.approx(0.5)
    assert prediction_low(values[:2], 0.01) is None


def test_pairs_of_few_retrains_predict_with_the_retrains_degrees_of_freedom():
    # 12 ordered pairs of 4 retrains are 4 independent draws, not 12: the bound is wider.
    values = [-0.03, -0.02, -0.04, -0.01, -0.03, -0.02, -0.05, -0.03, -0.02, -0.04, -0.03, -0.01]
    n, mean = len(values), sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    low = prediction_low(values, 0.01, independent=4)
    assert low == pytest.approx(mean - stats.t.ppf(0.99, 3) * sd * math.sqrt(1 + 1 / 4))
    assert low < prediction_low(values, 0.01)
    assert fail_probability(values, low, independent=4) == pytest.approx(0.01)
    assert prediction_low(values, 0.01, independent=2) is None


def test_analysis_counts_blocks_and_says_which_thresholds_the_spread_supports():
    rng = random.Random(0)
    kinds = {"floor": "min", "drop": "max_drop_vs_promoted"}
    retrains = []
    for seed in range(1, 9):
        lo = 0.92 + rng.gauss(0, 0.01)
        gate = _gate({"floor": (lo, lo + 0.04, 0.90)}, kinds)
        retrains.append(Retrain(seed, None, gate, {"t/floor": True, "t/drop": True}))  # type: ignore[arg-type]
    pairs = {}
    for i in range(1, 9):
        for j in range(1, 9):
            if i != j:
                lo = -0.03 + rng.gauss(0, 0.01)
                pairs[(i, j)] = _gate({"drop": (lo, lo + 0.05, -0.06)}, kinds)
    result = analyse(retrains, pairs, rate=0.05)
    by = {c["name"]: c for c in result["checks"]}
    assert result["gates_run"] == 8 + 56 and result["per_check_rate"] == pytest.approx(0.025)
    floor, drop = by["floor"], by["drop"]
    assert floor["runs"] == 8 and drop["runs"] == 56
    assert floor["supported"] < 0.92 and 0 < floor["false_block_probability"] < 0.5
    # The drop margin a retrain clears with probability 97.5%: wider than the bounds' spread alone.
    assert 0.03 < drop["supported"] < 0.10
    assert result["observed_false_blocks"] == sum(v == "fail" for v in result["gates"].values())
    assert 0 <= result["predicted_false_block_rate"] <= 1


@pytest.fixture
def spread_project(project, tiny_model_dir):
    rng = random.Random(3)
    project.params["model"]["base"] = str(tiny_model_dir)
    project.params["prepare"]["split"] = {"val_fraction": 0.2}
    project.params["train"] = {
        "quantization": "none", "compute_dtype": "float32", "max_steps": 3, "batch_size": 4, "max_length": 128,
        "eval_steps": 2, "learning_rate": 0.05, "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
    }  # fmt: skip
    project.params["evaluate"] = {"max_batch_size": 4, "token_budget": 4096}
    project.params["gate"] = {
        "resamples": 1000, "uninformative": "warn",
        "checks": [
            {"target": "qa/contains", "kind": "max_drop_vs_base", "margin": 1.0},
            {"target": "qa/contains", "kind": "max_drop_vs_promoted", "margin": 1.0},
        ],
    }  # fmt: skip
    project.write_params()
    words = ["river", "city", "water", "boiling", "point", "danube", "degrees"]
    project.data([chat(" ".join(rng.choice(words) for _ in range(8)), " ".join(rng.choice(words) for _ in range(3)), id=f"r{i}") for i in range(30)])
    return project


def test_spread_command_trains_each_seed_and_gates_every_pair(spread_project, run_cli):
    root = spread_project.root
    result = run_cli("spread", "--seeds", "3", "--work", "work")
    assert result.exit_code == 0, result.output
    out = json.loads((root / "reports" / "spread.json").read_text())
    assert out["seeds"] == [1, 2, 3] and out["gates_run"] == 3 + 6
    import yaml

    assert [yaml.safe_load((root / "work" / f"seed-{s}" / "params.yaml").read_text())["train"]["seed"] for s in (1, 2, 3)] == [1, 2, 3]
    adapters = {json.loads((root / "work" / f"seed-{s}" / "metrics" / "train.json").read_text())["adapter_sha256"] for s in (1, 2, 3)}
    assert len(adapters) == 3  # other seeds, other adapters
    by = {c["name"]: c for c in out["checks"]}
    assert by["qa/contains max_drop_vs_promoted"]["runs"] == 6 and by["qa/contains max_drop_vs_base"]["runs"] == 3
    assert "supported thresholds" in result.output and "reports/spread.json" in result.output
    # --reuse keeps the retrains that reached a verdict (nothing is retrained).
    trained = {s: (root / "work" / f"seed-{s}" / "metrics" / "train.json").stat().st_mtime_ns for s in (1, 2, 3)}
    again = run_cli("spread", "--seeds", "3", "--work", "work", "--reuse")
    assert again.exit_code == 0, again.output
    assert json.loads((root / "reports" / "spread.json").read_text())["gates"] == out["gates"]
    # A changed gate policy is gated again on the same retrains (nothing trained).
    spread_project.params["gate"]["checks"][0]["margin"] = 0.5
    spread_project.write_params()
    assert run_cli("spread", "--seeds", "3", "--work", "work", "--reuse").exit_code == 0
    redone = {c["name"]: c for c in json.loads((root / "reports" / "spread.json").read_text())["checks"]}
    assert redone["qa/contains max_drop_vs_base"]["threshold"] == pytest.approx(-0.5)
    assert trained == {s: (root / "work" / f"seed-{s}" / "metrics" / "train.json").stat().st_mtime_ns for s in (1, 2, 3)}


def test_spread_needs_three_seeds(spread_project, run_cli):
    result = run_cli("spread", "--seeds", "2")
    assert result.exit_code == 2 and "at least 3 seeds" in result.output


def test_lower_is_better_checks_are_oriented_by_their_upper_bound():
    """bits per byte (lower is better): a drop check passes while the CI's upper bound stays
    under +margin, a ceiling while it stays under the ceiling; the supported margin and ceiling
    come out in the policy's own terms."""
    retrains = []
    for seed, hi in enumerate([0.020, 0.022, 0.018, 0.021, 0.019], start=1):
        checks = [
            {"name": "bpb drop", "target": "forgetting:t/bpb", "kind": "max_drop_vs_base", "verdict": "pass", "estimate": hi - 0.004, "ci": [hi - 0.008, hi], "threshold": 0.10},
            {"name": "bpb ceiling", "target": "forgetting:t/bpb", "kind": "min", "verdict": "pass", "estimate": 1.40 + hi, "ci": [1.38 + hi, 1.42 + hi], "threshold": 1.50},
        ]  # fmt: skip
        retrains.append(Retrain(seed, None, {"verdict": "pass", "checks": checks}, {"forgetting:t/bpb": False}))  # type: ignore[arg-type]
    by = {c["name"]: c for c in analyse(retrains, {}, rate=0.05)["checks"]}
    # Upper bounds near 0.02: the margin needed is a little above that, the ceiling a little above 1.44.
    assert 0.02 < by["bpb drop"]["supported"] < 0.05
    assert 1.44 < by["bpb ceiling"]["supported"] < 1.48
    assert by["bpb drop"]["false_block_probability"] < 1e-6 and by["bpb ceiling"]["false_block_probability"] < 0.01
