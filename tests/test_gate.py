"""The gate: each check kind passing and failing, CI boundaries, Holm, power, fail-closed inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from evalgate.artifacts import jsonl_bytes, sha256_bytes, sha256_file


def write_eval(
    root: Path,
    base: dict[str, list[float | None]],
    cand: dict[str, list[float | None]],
    *,
    binary: bool = True,
    higher_is_better: bool = True,
    value_range: list[float] | None = None,
) -> None:
    """metrics/eval.json and runs/scores.jsonl for task 'qa' with the given per-item scores."""
    golden = root / "golden_sets" / "qa.jsonl"
    rows = []
    n = len(next(iter(base.values())))
    for i in range(n):
        for metric in base:
            rows.append({"task": "qa", "id": f"q{i}", "metric": metric, "scorer": "x", "base": base[metric][i], "candidate": cand[metric][i], "base_explanation": "", "candidate_explanation": ""})
    data = jsonl_bytes(rows)
    (root / "runs").mkdir(exist_ok=True)
    (root / "runs" / "scores.jsonl").write_bytes(data)
    tasks = {}
    for metric in base:
        b = [v for v in base[metric] if v is not None]
        c = [v for v in cand[metric] if v is not None]
        tasks[metric] = {
            "base": float(np.mean(b)), "candidate": float(np.mean(c)), "n": n, "higher_is_better": higher_is_better,
            "binary": binary, "primary": False, "range": value_range if value_range is not None else ([0.0, 1.0] if binary else None),
        }
    metrics = {
        "schema_version": 1,
        "tasks": {"qa": tasks},
        "provenance": {
            "adapter": {"dir": "models/adapter", "sha256": "0" * 64},
            "tasks": {"qa": {"golden_set": "golden_sets/qa.jsonl", "golden_set_sha256": sha256_file(golden)}},
            "scores_file": "runs/scores.jsonl",
            "scores_sha256": sha256_bytes(data),
            "dataset_sha256": "d" * 64,
        },
    }
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics" / "eval.json").write_text(json.dumps(metrics))


def set_gate(project, checks: list[dict], **extra) -> None:
    project.params["gate"] = {"checks": checks, "resamples": 2000, **extra}
    project.write_params()


def binary_pairs(n: int, base_rate: float, cand_rate: float, seed: int = 0) -> tuple[list[float], list[float]]:
    """Deterministic paired 0/1 scores with exactly the given rates and high agreement."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    nb, nc = round(base_rate * n), round(cand_rate * n)
    base = np.zeros(n)
    cand = np.zeros(n)
    base[order[:nb]] = 1
    cand[order[:nc]] = 1
    return base.tolist(), cand.tolist()


@pytest.fixture
def gated(project):
    return project


def gate_report(project) -> dict:
    return json.loads((project.root / "reports" / "gate.json").read_text())


def test_non_inferiority_passes_when_the_lower_bound_clears_the_margin(gated, run_cli):
    base, cand = binary_pairs(400, 0.80, 0.80)
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    set_gate(gated, [{"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.05}])
    result = run_cli("gate")
    assert result.exit_code == 0, result.output
    check = gate_report(gated)["checks"][0]
    assert check["verdict"] == "pass" and check["estimate"] == 0.0
    assert check["ci"][0] > -0.05 and "is above -0.050" in check["reason"]


def test_non_inferiority_fails_when_the_drop_may_exceed_the_margin(gated, run_cli):
    base, cand = binary_pairs(200, 0.86, 0.81)
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    set_gate(gated, [{"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.03}])
    result = run_cli("gate")
    assert result.exit_code == 1
    report = gate_report(gated)
    check = report["checks"][0]
    assert report["verdict"] == "fail" and check["verdict"] == "fail"
    assert check["reason"].startswith("qa/acc: candidate 0.81 vs base 0.86, difference -0.050 [95% CI")
    assert "is not above -0.030" in check["reason"]
    assert check["mcnemar"]["worse"] == 10 and check["mcnemar"]["better"] == 0
    assert "FAIL" in result.stderr and "gate FAIL" in result.stderr


def test_point_estimate_within_margin_still_fails_when_the_ci_crosses_it(gated, run_cli):
    # A 2-point drop with a 5-point margin, on too few items: the point estimate would pass.
    base, cand = binary_pairs(40, 0.80, 0.775)
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    set_gate(gated, [{"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.05}])
    assert run_cli("gate").exit_code == 1
    check = gate_report(gated)["checks"][0]
    assert check["estimate"] > -0.05 and check["ci"][0] < -0.05
    assert check["underpowered"] and "underpowered" in check["warnings"][0]


def test_min_gain_vs_base(gated, run_cli):
    base, cand = binary_pairs(300, 0.5, 0.7)
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    set_gate(gated, [{"target": "qa/acc", "kind": "min_gain_vs_base", "margin": 0.1}])
    assert run_cli("gate").exit_code == 0
    set_gate(gated, [{"target": "qa/acc", "kind": "min_gain_vs_base", "margin": 0.19}])
    assert run_cli("gate").exit_code == 1


def test_min_floor_on_lower_bound_or_point(gated, run_cli):
    base, cand = binary_pairs(100, 0.5, 0.82)
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    set_gate(gated, [{"target": "qa/acc", "kind": "min", "threshold": 0.8}])
    assert run_cli("gate").exit_code == 1  # 0.82, but the lower bound is below 0.8
    assert "lower bound" in gate_report(gated)["checks"][0]["reason"]
    set_gate(gated, [{"target": "qa/acc", "kind": "min", "threshold": 0.8, "decide_on": "point"}])
    assert run_cli("gate").exit_code == 0


def test_lower_is_better_metric_flips_direction(gated, run_cli):
    rng = np.random.default_rng(3)
    base = rng.normal(10, 1, 300)
    cand = base + 0.5 + rng.normal(0, 0.1, 300)  # candidate is worse: higher latency
    write_eval(gated.root, {"lat": base.tolist()}, {"lat": cand.tolist()}, binary=False, higher_is_better=False)
    set_gate(gated, [{"target": "qa/lat", "kind": "max_drop_vs_base", "margin": 0.2}])
    assert run_cli("gate").exit_code == 1
    set_gate(gated, [{"target": "qa/lat", "kind": "max_drop_vs_base", "margin": 0.8}])
    assert run_cli("gate").exit_code == 0


def test_min_coverage_counts_unscored_items(gated, run_cli):
    base = [1.0] * 20
    cand = [1.0] * 17 + [None] * 3
    write_eval(gated.root, {"judge": base}, {"judge": cand})
    set_gate(gated, [{"target": "qa/judge", "kind": "min_coverage", "threshold": 0.9}])
    assert run_cli("gate").exit_code == 1
    assert "17 of 20 items scored" in gate_report(gated)["checks"][0]["reason"]
    set_gate(gated, [{"target": "qa/judge", "kind": "min_coverage", "threshold": 0.85}])
    assert run_cli("gate").exit_code == 0


def test_holm_correction_can_turn_a_marginal_pass_into_a_fail(gated, run_cli):
    rng = np.random.default_rng(0)
    n = 400
    base = {f"m{k}": rng.normal(0.5, 0.1, n) for k in range(5)}
    # Each difference has mean -0.0445 and sd 0.05 exactly: t = 2.2 against the -0.05 margin,
    # one-sided p = 0.014 < 0.025 alone, but 5 x 0.014 > 0.025 after Holm.
    noise = rng.normal(0, 1, n)
    noise = (noise - noise.mean()) / noise.std(ddof=1) * 0.05
    cand = {k: v - 0.0445 + noise for k, v in base.items()}
    write_eval(gated.root, {k: v.tolist() for k, v in base.items()}, {k: v.tolist() for k, v in cand.items()}, binary=False)
    checks = [{"target": f"qa/{k}", "kind": "max_drop_vs_base", "margin": 0.05} for k in base]
    set_gate(gated, checks, correction="none")
    single = gate_report(gated) if run_cli("gate").exit_code == 0 else gate_report(gated)
    set_gate(gated, checks, correction="holm")
    run_cli("gate")
    holm = gate_report(gated)
    passed_alone = [c["verdict"] == "pass" for c in single["checks"]]
    passed_holm = [c["verdict"] == "pass" for c in holm["checks"]]
    assert sum(passed_holm) < sum(passed_alone)
    flipped = next(c for c, a in zip(holm["checks"], passed_alone, strict=True) if a and c["verdict"] == "fail")
    assert "after Holm correction across 5 checks" in flipped["reason"]
    assert all(c["p_adjusted"] >= c["p_value"] for c in holm["checks"])


def test_underpowered_fail_policy(gated, run_cli):
    # 30 items, 3 discordant pairs each way: no difference, but a noisy one (sd of differences 0.45).
    base = [1.0] * 27 + [0.0] * 3
    cand = [1.0] * 24 + [0.0] * 3 + [1.0] * 3
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    set_gate(gated, [{"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.2}], underpowered="warn", ci_method="percentile")
    assert run_cli("gate").exit_code == 0
    check = gate_report(gated)["checks"][0]
    assert check["underpowered"] and check["mde"] > 0.2 and check["verdict"] == "pass"
    set_gate(gated, [{"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.2}], underpowered="fail", ci_method="percentile")
    assert run_cli("gate").exit_code == 1
    assert "(underpowered: fail)" in gate_report(gated)["checks"][0]["reason"]


def test_missing_metrics_is_exit_2_never_a_pass(gated, run_cli):
    set_gate(gated, [{"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.05}])
    result = run_cli("gate")
    assert result.exit_code == 2
    assert "metrics/eval.json: missing" in result.stderr
    assert not (gated.root / "reports" / "gate.json").exists()


def test_stale_scores_and_changed_golden_set_are_refused(gated, run_cli):
    base, cand = binary_pairs(50, 0.8, 0.8)
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    set_gate(gated, [{"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.05}])
    scores = gated.root / "runs" / "scores.jsonl"
    scores.write_bytes(scores.read_bytes().replace(b'"candidate":0.0', b'"candidate":1.0', 1))
    result = run_cli("gate")
    assert result.exit_code == 2 and "does not match the sha256 recorded" in result.stderr
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    golden = gated.root / "golden_sets" / "qa.jsonl"
    golden.write_text(golden.read_text() + '{"id": "g3", "question": "new?", "reference": "x"}\n')
    result = run_cli("gate")
    assert result.exit_code == 2 and "changed since metrics/eval.json was computed" in result.stderr


def test_unknown_target_and_bad_policy_are_config_errors(gated, run_cli):
    base, cand = binary_pairs(50, 0.8, 0.8)
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    set_gate(gated, [{"target": "qa/accuracy", "kind": "max_drop_vs_base", "margin": 0.05}])
    result = run_cli("gate")
    assert result.exit_code == 2 and "no metric qa/accuracy" in result.stderr and "known: qa/acc" in result.stderr
    set_gate(gated, [{"target": "qa/acc", "kind": "max_drop_vs_base", "threshold": 0.05}])
    result = run_cli("gate")
    assert result.exit_code == 2
    assert "gate.checks[0]: value error, kind max_drop_vs_base needs `margin`" in result.stderr.lower() or "needs `margin`" in result.stderr


def test_promoted_comparison_and_promotion(gated, run_cli, monkeypatch):
    import evalgate.stages.promote as registry

    monkeypatch.setattr(registry, "adapter_sha256", lambda d: "0" * 64)
    (gated.root / "models" / "adapter").mkdir(parents=True)
    base, cand = binary_pairs(300, 0.7, 0.8)
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    checks = [
        {"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.05},
        {"target": "qa/acc", "kind": "max_drop_vs_promoted", "margin": 0.05},
    ]
    set_gate(gated, checks)
    assert run_cli("gate").exit_code == 0
    assert gate_report(gated)["checks"][1]["verdict"] == "skipped"
    result = run_cli("promote")
    assert result.exit_code == 0, result.output
    reg = json.loads((gated.root / "registry" / "promoted.json").read_text())
    assert reg["adapter_sha256"] == "0" * 64 and (gated.root / reg["scores_file"]).is_file()
    # A later candidate that lost 10 points against the promoted one is blocked.
    _, worse = binary_pairs(300, 0.7, 0.7)
    write_eval(gated.root, {"acc": base}, {"acc": worse})
    assert run_cli("gate").exit_code == 1
    report = gate_report(gated)
    assert report["checks"][1]["verdict"] == "fail" and "vs promoted 0.8" in report["checks"][1]["reason"]
    result = run_cli("promote")
    assert result.exit_code == 2 and "the gate did not pass" in result.stderr
    # A promoted run scored on another golden set cannot be compared item by item.
    reg["golden_sets"]["qa"] = "f" * 64
    (gated.root / "registry" / "promoted.json").write_text(json.dumps(reg))
    result = run_cli("gate")
    assert result.exit_code == 2 and "different golden set" in result.stderr


def test_promote_refuses_when_metrics_changed_after_the_gate(gated, run_cli, monkeypatch):
    import evalgate.stages.promote as registry

    monkeypatch.setattr(registry, "adapter_sha256", lambda d: "0" * 64)
    (gated.root / "models" / "adapter").mkdir(parents=True)
    base, cand = binary_pairs(200, 0.8, 0.8)
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    set_gate(gated, [{"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.1}])
    assert run_cli("gate").exit_code == 0
    write_eval(gated.root, {"acc": base}, {"acc": binary_pairs(200, 0.8, 0.75)[1]})
    result = run_cli("promote")
    assert result.exit_code == 2 and "changed since the gate ran" in result.stderr


def test_gate_json_carries_schema_and_provenance(gated, run_cli):
    base, cand = binary_pairs(100, 0.8, 0.8)
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    set_gate(gated, [{"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.2}])
    run_cli("gate")
    report = gate_report(gated)
    assert list(report)[0] == "schema_version"
    prov = report["provenance"]
    assert prov["golden_sets"]["qa"] == sha256_file(gated.root / "golden_sets" / "qa.jsonl")
    assert prov["dataset_sha256"] == "d" * 64 and prov["adapter"]["sha256"] == "0" * 64
    assert prov["metrics_files"]["eval"] == sha256_file(gated.root / "metrics" / "eval.json")
    assert yaml.safe_load((gated.root / "params.yaml").read_text())["gate"]["checks"] == prov["policy"]["checks"] or prov["policy"]["checks"]


def test_a_bug_is_exit_3_with_a_traceback(gated, monkeypatch, capsys):
    import sys

    import evalgate.stages.gate
    from evalgate.cli import main

    base, cand = binary_pairs(50, 0.8, 0.8)
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    set_gate(gated, [{"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.05}])

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(evalgate.stages.gate, "run_gate", broken)
    monkeypatch.setattr(sys, "argv", ["evalgate", "gate"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "internal error" in err
    assert not (gated.root / "reports" / "gate.json").exists()


def test_seed_rules_are_expressible(tmp_path):
    from evalgate.config import GateParams

    policy = GateParams.model_validate(
        {
            "checks": [
                {"target": "judge:helpfulness/score", "kind": "min", "threshold": 4.0},
                {"target": "forgetting:general/acc", "kind": "max_drop_vs_base", "margin": 0.05},
            ]
        }
    )
    judge, forgetting = policy.checks
    assert (judge.source, judge.task, judge.metric) == ("judge", "helpfulness", "score")
    assert (forgetting.source, forgetting.task, forgetting.metric) == ("forgetting", "general", "acc")


def test_zero_vs_zero_is_uninformative_not_a_pass(gated, run_cli):
    """A no-worse-than check whose reference scores the worst value on every item could not have
    seen a drop: no p-value, no minimum detectable effect, and it fails under the default policy."""
    write_eval(gated.root, {"acc": [0.0] * 130}, {"acc": [0.0] * 130})
    set_gate(gated, [{"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.05}])
    result = run_cli("gate")
    assert result.exit_code == 1
    report = gate_report(gated)
    check = report["checks"][0]
    assert check["uninformative"] is True and check["verdict"] == "fail"
    assert check["p_value"] is None and check["mde"] is None
    assert "worst possible value, on all 130 items" in check["reason"] and "undefined" in check["reason"]
    assert report["summary"] == "0 of 1 checks passed, 1 failed, 0 skipped, 1 uninformative; failed: qa/acc max_drop_vs_base"
    assert report["counts"] == {"total": 1, "passed": 0, "failed": 1, "skipped": 0, "advisory": 0, "uninformative": 1}
    assert "1e-06" not in result.stderr and "UNINFORMATIVE" in result.stderr
    # A candidate that scores better does not make the comparison informative: the base is still at worst.
    write_eval(gated.root, {"acc": [0.0] * 130}, {"acc": [1.0] * 30 + [0.0] * 100})
    assert run_cli("gate").exit_code == 1
    assert gate_report(gated)["checks"][0]["uninformative"] is True


def test_uninformative_warn_policy_records_it_without_failing(gated, run_cli):
    base, cand = binary_pairs(200, 0.8, 0.8)
    write_eval(gated.root, {"acc": base, "fmt": [0.0] * 200}, {"acc": cand, "fmt": [0.0] * 200})
    checks = [
        {"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.1},
        {"target": "qa/fmt", "kind": "max_drop_vs_base", "margin": 0.1},
    ]
    set_gate(gated, checks, uninformative="warn")
    assert run_cli("gate").exit_code == 0
    report = gate_report(gated)
    assert [c["verdict"] for c in report["checks"]] == ["pass", "uninformative"]
    assert report["summary"] == "1 of 2 checks passed, 0 skipped, 1 uninformative"
    assert "p_adjusted" not in report["checks"][1]  # not part of the Holm family: it has no p-value


def test_identical_to_promoted_passes_and_a_clear_drop_fails(gated, run_cli, monkeypatch):
    """Zero variance alone is not 'uninformative': the same answers on every item are evidence of no
    change, and all-1 against all-0 is a clear difference."""
    import evalgate.stages.promote as registry

    monkeypatch.setattr(registry, "adapter_sha256", lambda d: "0" * 64)
    (gated.root / "models" / "adapter").mkdir(parents=True)
    base, cand = binary_pairs(130, 0.0, 0.8)
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    set_gate(gated, [{"target": "qa/acc", "kind": "min_gain_vs_base", "margin": 0.3}, {"target": "qa/acc", "kind": "max_drop_vs_promoted", "margin": 0.05}])
    assert run_cli("gate").exit_code == 0
    assert run_cli("promote").exit_code == 0
    write_eval(gated.root, {"acc": base}, {"acc": cand})  # the same answers again
    assert run_cli("gate").exit_code == 0
    check = gate_report(gated)["checks"][1]
    assert check["verdict"] == "pass" and check["uninformative"] is False
    assert check["estimate"] == 0.0 and check["ci"] == [0.0, 0.0] and check["mde"] == 0.0
    # Everything the promoted adapter got right, the candidate gets wrong.
    write_eval(gated.root, {"acc": base}, {"acc": [0.0] * 130})
    assert run_cli("gate").exit_code == 1
    check = gate_report(gated)["checks"][1]
    assert check["verdict"] == "fail" and check["uninformative"] is False


def test_all_ones_against_all_zeros_is_a_clear_drop(gated, run_cli):
    write_eval(gated.root, {"acc": [1.0] * 50}, {"acc": [0.0] * 50})
    set_gate(gated, [{"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.05}])
    assert run_cli("gate").exit_code == 1
    check = gate_report(gated)["checks"][0]
    assert check["verdict"] == "fail" and check["uninformative"] is False and check["p_value"] == 1.0


def test_headline_counts_every_check():
    from evalgate.policy import headline

    checks = [{"verdict": v, "name": f"c{i}"} for i, v in enumerate(["pass"] * 4 + ["skipped"] * 2)]
    assert headline(checks) == "4 of 6 checks passed, 2 skipped, 0 uninformative"
    checks[0] = {"verdict": "fail", "name": "c0", "uninformative": True}
    assert headline(checks) == "3 of 6 checks passed, 1 failed, 2 skipped, 1 uninformative; failed: c0"


def test_a_stage_without_a_golden_set_passes_the_freshness_check(gated, run_cli):
    """The forgetting stage's benchmarks have no golden set: its provenance names none, and the
    gate decides its checks like any other target."""
    base, cand = binary_pairs(200, 0.6, 0.6, seed=3)
    rows = [
        {"task": "arc_easy", "id": f"d{i}", "metric": "acc", "scorer": "lm-eval", "base": b, "candidate": c,
         "base_explanation": "", "candidate_explanation": ""}
        for i, (b, c) in enumerate(zip(base, cand, strict=True))
    ]
    data = jsonl_bytes(rows)
    (gated.root / "runs").mkdir(exist_ok=True)
    (gated.root / "runs" / "forgetting_scores.jsonl").write_bytes(data)
    metrics = {
        "schema_version": 1,
        "tasks": {"arc_easy": {"acc": {"base": 0.6, "candidate": 0.6, "n": 200, "higher_is_better": True, "binary": True, "range": [0.0, 1.0]}}},
        "provenance": {
            "tasks": {"arc_easy": {"items": 200, "data_sha256": "e" * 64}},
            "scores_file": "runs/forgetting_scores.jsonl",
            "scores_sha256": sha256_bytes(data),
        },
    }
    (gated.root / "metrics").mkdir(exist_ok=True)
    (gated.root / "metrics" / "forgetting.json").write_text(json.dumps(metrics))
    set_gate(gated, [{"target": "forgetting:arc_easy/acc", "kind": "max_drop_vs_base", "margin": 0.1}])
    result = run_cli("gate")
    assert result.exit_code == 0, result.output
    check = gate_report(gated)["checks"][0]
    assert check["verdict"] == "pass" and check["target"] == "forgetting:arc_easy/acc"
    assert "forgetting" in gate_report(gated)["provenance"]["metrics_files"]


def test_a_malformed_metrics_file_names_the_field_and_the_fix(gated, run_cli):
    base, cand = binary_pairs(50, 0.8, 0.8)
    write_eval(gated.root, {"acc": base}, {"acc": cand})
    path = gated.root / "metrics" / "eval.json"
    metrics = json.loads(path.read_text())
    metrics["tasks"]["qa"]["acc"]["n"] = "many"
    path.write_text(json.dumps(metrics))
    set_gate(gated, [{"target": "qa/acc", "kind": "max_drop_vs_base", "margin": 0.05}])
    result = run_cli("gate")
    assert result.exit_code == 2
    assert "metrics/eval.json: field tasks.qa.acc.n" in result.stderr and "rerun `evalgate evaluate`" in result.stderr
    metrics["schema_version"] = 0
    path.write_text(json.dumps(metrics))
    result = run_cli("gate")
    assert result.exit_code == 2 and "schema_version 0 is not the one this evalgate reads (1)" in result.stderr
