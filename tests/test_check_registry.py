"""A check kind added from outside the package: one decorated function, then validated from a
params file, decided by the policy (Holm, power), and rendered in gate.json, the report and
summary.md, with no edit to evalgate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.report_fixtures import make_tasks, write_run


@pytest.fixture
def median_kind():
    """`max_median_drop_vs_base`: the median per-item difference may fall at most `margin` below
    zero; a paired sign-flip bound stands in for the bootstrap, to be visibly not a built-in."""
    from evalgate.checks import CHECKS, CheckInput, CheckResult, check, fmt, one_sided_p
    from evalgate.stats import min_detectable_effect

    @check("max_median_drop_vs_base", needs="margin", versus="base", guards_regression=True, bound_sign=-1.0)
    def max_median_drop_vs_base(c: CheckInput) -> CheckResult:
        """The median per-item change is no worse than -margin."""
        diff = c.pairs.sign * (c.pairs.cand - c.pairs.base)
        med = float(np.median(diff))
        margin = c.check.margin or 0.0
        ok = med > -margin
        sd = float(np.std(diff, ddof=1))
        return CheckResult(
            "pass" if ok else "fail",
            f"{c.check.target}: median change {med:+.3f} vs the allowed drop {fmt(margin)}",
            estimate=med,
            ci=[med, med],
            threshold=-margin,
            p_value=one_sided_p(diff, -margin),
            mde=min_detectable_effect(len(diff), sd, confidence=c.gate.confidence, power=c.gate.power),
            uninformative=False,
        )

    yield "max_median_drop_vs_base"
    del CHECKS["max_median_drop_vs_base"]


def test_a_new_kind_is_validated_decided_and_rendered(project, run_cli, median_kind):
    write_run(project.root, make_tasks(40, regress=False))
    project.params["gate"] = {
        "resamples": 2000,
        "checks": [
            {"target": "qa/exact_match", "kind": "max_drop_vs_base", "margin": 0.3},
            {"target": "summ/rougeL", "kind": median_kind, "margin": 0.001},
        ],
    }
    project.write_params()
    result = run_cli("gate", "--no-fail")
    assert result.exit_code == 0, result.output
    report = json.loads((project.root / "reports" / "gate.json").read_text())
    new = next(c for c in report["checks"] if c["kind"] == median_kind)
    assert new["name"] == f"summ/rougeL {median_kind}" and new["verdict"] in ("pass", "fail")
    assert "p_adjusted" in new  # in Holm's family with the built-in check
    assert new["underpowered"] is True and "smallest drop this suite detects" in new["warnings"][0]  # the power rule
    assert report["counts"]["total"] == 2
    assert run_cli("report").exit_code == 0
    html = (project.root / "reports" / "report.html").read_text()
    summary = (project.root / "reports" / "summary.md").read_text()
    assert "max median drop vs base" in html and "median change" in html
    assert median_kind in summary or "max median drop vs base" in summary


def test_an_unknown_kind_names_the_close_matches(project, run_cli):
    write_run(project.root, make_tasks(20, regress=False))
    project.params["gate"] = {"checks": [{"target": "qa/exact_match", "kind": "max_drop_vs_bsae", "margin": 0.1}]}
    project.write_params()
    result = run_cli("gate")
    assert result.exit_code == 2
    assert "unknown check kind 'max_drop_vs_bsae'" in result.stderr and "did you mean 'max_drop_vs_base'" in result.stderr


def test_a_kind_cannot_be_registered_twice(median_kind):
    from evalgate.checks import CheckResult, check

    with pytest.raises(ValueError, match="already registered"):

        @check(median_kind, needs="margin")
        def other(c) -> CheckResult:  # pragma: no cover - never called
            raise AssertionError


def test_builtin_kinds_describe_themselves():
    from evalgate.checks import CHECKS

    assert {"min", "min_coverage", "max_drop_vs_base", "max_drop_vs_promoted", "min_gain_vs_base"} <= set(CHECKS)
    assert all(k.description for k in CHECKS.values())
    assert CHECKS["max_drop_vs_promoted"].versus == "promoted" and CHECKS["min"].versus is None


def test_checks_command_lists_every_kind(run_cli, median_kind):
    result = run_cli("checks")
    assert result.exit_code == 0
    for name in ("min", "min_coverage", "max_drop_vs_base", "max_drop_vs_promoted", "min_gain_vs_base", median_kind):
        assert any(line.startswith(name + " ") for line in result.output.splitlines()), name


def test_a_kind_from_a_plugins_module_named_in_params(project, run_cli, monkeypatch):
    """The way a team adds a kind without touching evalgate: a module next to params.yaml,
    listed under `plugins:`; evalgate imports it before validating the checks."""
    import sys

    from evalgate.checks import CHECKS

    (project.root / "team_checks.py").write_text(
        "from evalgate.checks import CheckResult, check\n\n"
        "@check('max_candidate_mean', needs='threshold')\n"
        "def max_candidate_mean(c):\n"
        "    '''The candidate's mean is at most `threshold` (e.g. a refusal rate).'''\n"
        "    est = float(c.pairs.cand.mean())\n"
        "    ok = est <= c.check.threshold\n"
        "    return CheckResult('pass' if ok else 'fail', f'{c.check.target}: mean {est:.3f}', est, None, c.check.threshold, tested=False)\n"
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        write_run(project.root, make_tasks(30, regress=False))
        project.params["plugins"] = ["team_checks"]
        project.params["gate"] = {"checks": [{"target": "qa/contains", "kind": "max_candidate_mean", "threshold": 1.0}]}
        project.write_params()
        result = run_cli("gate")
        assert result.exit_code == 0, result.output
        check = json.loads((project.root / "reports" / "gate.json").read_text())["checks"][0]
        assert check["kind"] == "max_candidate_mean" and check["verdict"] == "pass"
        project.params["plugins"] = ["no_such_module"]
        project.write_params()
        result = run_cli("gate")
        assert result.exit_code == 2 and "plugins[0]: cannot import 'no_such_module'" in result.stderr
    finally:
        CHECKS.pop("max_candidate_mean", None)
        sys.modules.pop("team_checks", None)
