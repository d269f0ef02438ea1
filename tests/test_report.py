"""The report stage: HTML (rendered offline in headless Chromium), summary.md, DVC files, escaping
of hostile model outputs, exit codes, atomic writes; `gate --no-fail` and `verdict`."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest

from tests.report_fixtures import HOSTILE, gate_params, make_tasks, write_run

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("EVALGATE_CHROMIUM", "/usr/bin/chromium"))
BROWSER_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def artifacts_dir() -> Path:
    path = Path(os.environ.get("EVALGATE_TEST_ARTIFACTS") or REPO / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright. Skipped only off CI when it is missing;
    on CI a missing browser fails, so the browser tests cannot silently stop running."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the Python package playwright is not installed (pip install -e '.[dev]')"
    if missing is None and not CHROMIUM.is_file():
        missing = f"{CHROMIUM} does not exist (apt-get install chromium)"
    if missing:
        if _in_ci():
            pytest.fail(f"browser tests need Chromium on CI: {missing}")
        pytest.skip(f"browser tests skipped: {missing}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        yield b
        b.close()


class Page:
    """A page opened from disk with every non-file request aborted and recorded."""

    def __init__(self, browser, path: Path):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=True)
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.console: list[str] = []

        def route(r):
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                self.blocked.append(r.request.url)
                r.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("request", lambda req: self.requests.append(req.url))
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.goto(path.resolve().as_uri(), wait_until="load")

    def close(self) -> None:
        self.context.close()

    @property
    def external(self) -> list[str]:
        return [u for u in self.requests + self.blocked if not u.startswith("file://")]


@pytest.fixture
def run(project, run_cli):
    """A two-task evaluated run whose gate fails on qa/exact_match (20 points lost)."""

    def make(n: int = 40, *, regress: bool = True, hostile: bool = False, gate: bool = True, truncated=None, tasks=None, **gate_extra):
        write_run(project.root, tasks or make_tasks(n, regress=regress, hostile=hostile), truncated=truncated)
        project.params["gate"] = gate_params(**gate_extra)
        project.write_params()
        if gate:
            result = run_cli("gate", "--no-fail")
            assert result.exit_code == 0, result.output
        return project

    return make


def report_files(root: Path) -> dict[str, Path]:
    return {
        "html": root / "reports" / "report.html",
        "summary": root / "reports" / "summary.md",
        "metrics": root / "metrics" / "summary.json",
        "deltas": root / "plots" / "deltas.csv",
    }


def test_report_renders_offline_in_chromium(run, run_cli, browser):
    project = run()
    result = run_cli("report")
    assert result.exit_code == 0, result.output
    assert "gate FAIL" in result.stderr
    html = report_files(project.root)["html"]
    page = Page(browser, html)
    try:
        p = page.page
        banner = p.locator("#verdict .headline")
        assert banner.is_visible() and banner.inner_text() == "Gate failed"
        assert "qa/exact_match: candidate 0.6 vs base 0.8" in p.locator("#verdict").inner_text()
        # The in-page item explorer is filled from the embedded JSON: every qa item, worst first.
        rows = p.locator("#ex-body tr")
        assert rows.count() == 40
        assert p.locator("#ex-body tr").first.locator("td").nth(3).inner_text() == "-1.000"
        # Filtering the side-by-side view by task hides the other task's items.
        total = p.locator("article.item").count()
        assert total > 0
        p.select_option("#worst-task", "summ")
        visible = p.locator("article.item:visible")
        assert visible.count() == p.locator("article.item[data-task=summ]").count() < total
        p.fill("#worst-q", "no such text anywhere")
        assert p.locator("article.item:visible").count() == 0
        assert p.locator("#worst-count").inner_text().startswith("0 of")
        p.select_option("#worst-task", "")
        p.fill("#worst-q", "")
        p.evaluate("window.scrollTo(0, 0)")
        p.screenshot(path=str(artifacts_dir() / "report.png"), full_page=False)
        assert page.console == [], page.console
        assert page.external == [], page.external
    finally:
        page.close()


def test_hostile_outputs_are_escaped_everywhere(run, run_cli):
    project = run(hostile=True)
    assert run_cli("report").exit_code == 0
    files = report_files(project.root)
    html = files["html"].read_text(encoding="utf-8")
    for raw in ("<script>window.__pwned", "<img src=x", "<svg onload", "</script><script>", "onerror=\"window"):
        assert raw not in html, raw
    # Exactly our own three script elements: the two JSON data blocks and the one script.
    assert len(re.findall(r"<script\b", html)) == 3
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    # Inside the JSON data blocks nothing can close the element or start a comment.
    for block in re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', html, re.S):
        assert "<" not in block and ">" not in block and "\u2028" not in block
    summary = files["summary"].read_text(encoding="utf-8")
    assert "<script" not in summary and "<img" not in summary


def test_hostile_outputs_do_not_run_in_chromium(run, run_cli, browser):
    project = run(hostile=True)
    assert run_cli("report").exit_code == 0
    page = Page(browser, report_files(project.root)["html"])
    try:
        p = page.page
        assert p.evaluate("typeof window.__pwned") == "undefined"
        text = p.locator("body").inner_text()
        assert HOSTILE["script"] in text and HOSTILE["img"] in text
        # The JSON survives the round trip byte for byte (escaping is for the parser, not the data).
        ids = p.evaluate("JSON.parse(document.getElementById('evalgate-items').textContent).tasks.qa.ids")
        assert "qa-" + HOSTILE["close"] in ids
        # The hostile item is among the worst regressions, its id and answers shown as text.
        item = p.locator("article.item").filter(has=p.locator(".id", has_text=HOSTILE["close"]))
        assert item.count() == 1
        assert HOSTILE["script"] in item.locator("pre.cand").inner_text()
        assert HOSTILE["comment"] in item.locator("pre.base").inner_text()
        assert p.locator("img").count() == 0
        assert page.console == [], page.console
        assert page.external == [], page.external
    finally:
        page.close()


def test_summary_lists_failing_checks_first_with_a_delta_table(run, run_cli):
    project = run()
    assert run_cli("report").exit_code == 0
    md = report_files(project.root)["summary"].read_text(encoding="utf-8")
    assert md.startswith("## ❌ evalgate: gate failed")
    fail_at, pass_at, skip_at = md.index("**Failing checks**"), md.index("**Passing checks**"), md.index("**Skipped checks**")
    assert fail_at < pass_at < skip_at
    failing = md[fail_at:pass_at]
    assert "qa/exact_match: candidate 0.6 vs base 0.8" in failing and "summ/rougeL" not in failing
    gate = json.loads((project.root / "reports" / "gate.json").read_text())
    check = next(c for c in gate["checks"] if c["target"] == "qa/exact_match" and c["kind"] == "max_drop_vs_base")
    lo, hi = check["ci"]
    # The table shows the gate's own interval for a gated target.
    row = next(line for line in md.splitlines() if line.startswith("| qa | exact_match"))
    assert f"-0.200 [{lo:+.3f}, {hi:+.3f}]" in row and "worse" in row
    assert sum(line.startswith("| ") for line in md.splitlines()) == 1 + 4  # header + 2 tasks x 2 metrics
    assert "**Flips**" in md and "qa/exact_match 8 worse / 0 better" in md


def test_a_malformed_training_record_is_a_note_not_a_number(run, run_cli):
    project = run()
    (project.root / "metrics" / "train.json").write_text(json.dumps({"schema_version": 1, "steps": "many"}))
    result = run_cli("report")
    assert result.exit_code == 0
    assert "metrics/train.json: field train_loss: Field required" in result.stderr


def test_dvc_metrics_and_plots_are_flat_numbers(run, run_cli):
    project = run()
    (project.root / "metrics" / "prepare.json").write_text(
        json.dumps({"schema_version": 1, "dataset_sha256": "d" * 64, "prepare": {"read": 12, "kept": 10, "leakage": 1}})
    )
    (project.root / "metrics" / "train.json").write_text(
        json.dumps({"schema_version": 1, "train_loss": 2.5, "steps": 32, "epochs": 1.0, "trainer_path": "full_forward", "early_stopped": False, "adapter_sha256": "a" * 64})
    )
    assert run_cli("report").exit_code == 0
    files = report_files(project.root)
    flat = json.loads(files["metrics"].read_text())

    def leaves(obj):
        for v in obj.values():
            yield from leaves(v) if isinstance(v, dict) else [v]

    assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in leaves(flat))
    assert flat["gate"] == {"passed": 0, "checks": 3, "checks_failed": 1, "checks_skipped": 1}
    assert flat["data"] == {"read": 12, "kept": 10, "leakage": 1}
    assert flat["train"] == {"train_loss": 2.5, "steps": 32, "epochs": 1.0}
    em = flat["tasks"]["qa"]["exact_match"]
    assert em["delta"] == pytest.approx(-0.2) and em["ci_low"] < -0.2 < em["ci_high"] < 0 and em["n"] == 40
    with open(files["deltas"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["target"] for r in rows] == ["qa/exact_match", "qa/contains", "summ/rougeL", "summ/length_ok"]
    assert float(rows[0]["delta"]) == pytest.approx(-0.2) and float(rows[0]["ci_high"]) < 0


def test_gate_not_run_still_renders_with_a_banner(run, run_cli):
    project = run(gate=False)
    result = run_cli("report")
    assert result.exit_code == 0, result.output
    files = report_files(project.root)
    html = files["html"].read_text()
    assert '<div class="headline">Gate not run</div>' in html
    assert "reports/gate.json does not exist" in html
    assert files["summary"].read_text().startswith("## ⚪ evalgate: gate not run")
    assert "gate" not in json.loads(files["metrics"].read_text())


def test_stale_gate_is_shown_as_unusable(run, run_cli):
    project = run()
    eval_path = project.root / "metrics" / "eval.json"
    eval_path.write_text(eval_path.read_text() + "\n")
    assert run_cli("report").exit_code == 0
    html = report_files(project.root)["html"].read_text()
    assert "Gate verdict unusable" in html and "stale" in html
    assert "Passing checks" not in report_files(project.root)["summary"].read_text()


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("metrics/eval.json", "metrics/eval.json: missing; the report needs it (run `evalgate evaluate` or `dvc repro`)"),
        ("runs/scores.jsonl", "runs/scores.jsonl: missing; the per-item scores behind metrics/eval.json are gone"),
    ],
)
def test_missing_required_input_is_exit_2_and_writes_nothing(run, run_cli, remove, message):
    project = run(gate=False)
    (project.root / remove).unlink()
    result = run_cli("report")
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1
    assert not any(p.exists() for p in report_files(project.root).values())


def test_a_failure_while_rendering_leaves_the_previous_report_whole(run, run_cli, monkeypatch):
    import evalgate.stages.report as build

    project = run()
    assert run_cli("report").exit_code == 0
    files = report_files(project.root)
    before = {k: p.read_bytes() for k, p in files.items()}

    def broken(analysis):
        raise RuntimeError("bug while rendering")

    monkeypatch.setattr(build, "deltas_csv", broken)  # the last output to render
    write_run(project.root, make_tasks(40, regress=False))
    result = run_cli("report")
    assert result.exit_code != 0
    assert {k: p.read_bytes() for k, p in files.items()} == before
    leftovers = [p.name for d in ("reports", "metrics", "plots") for p in (project.root / d).iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_gate_no_fail_records_a_failing_verdict_and_exits_0(run, run_cli):
    project = run(gate=False)
    result = run_cli("gate", "--no-fail")
    assert result.exit_code == 0 and "gate FAIL" in result.stderr
    assert json.loads((project.root / "reports" / "gate.json").read_text())["verdict"] == "fail"
    assert run_cli("gate").exit_code == 1
    (project.root / "runs" / "scores.jsonl").write_text("")
    result = run_cli("gate", "--no-fail")
    assert result.exit_code == 2 and "does not match the sha256 recorded" in result.stderr


def test_verdict_exit_codes(run, run_cli):
    project = run(gate=False)
    gate_json = project.root / "reports" / "gate.json"
    result = run_cli("verdict")
    assert result.exit_code == 2 and "reports/gate.json: missing; run `evalgate gate`" in result.stderr
    assert run_cli("gate", "--no-fail").exit_code == 0
    result = run_cli("verdict")
    assert result.exit_code == 1 and "gate FAIL" in result.stderr
    eval_path = project.root / "metrics" / "eval.json"
    original = eval_path.read_text()
    eval_path.write_text(original + "\n")
    result = run_cli("verdict")
    assert result.exit_code == 2 and "stale; metrics/eval.json changed since the gate ran" in result.stderr
    eval_path.write_text(original)
    gate_json.write_text(gate_json.read_text()[:50])
    result = run_cli("verdict")
    assert result.exit_code == 2 and "reports/gate.json: unreadable" in result.stderr
    project.params["gate"] = gate_params(checks=[{"target": "summ/rougeL", "kind": "max_drop_vs_base", "margin": 0.1}])
    project.write_params()
    assert run_cli("gate").exit_code == 0
    assert run_cli("verdict").exit_code == 0


def test_worst_n_bounds_the_side_by_side_rows(run, run_cli):
    project = run()
    project.params["report"] = {"worst_n": 3, "max_flips": 2}
    project.write_params()
    assert run_cli("report").exit_code == 0
    html = report_files(project.root)["html"].read_text()
    assert html.count('<article class="item"') == 6  # 3 per task
    assert "(first 2 of 8)" in html


def test_report_params_are_strict(run, run_cli):
    project = run(gate=False)
    project.params["report"] = {"worst": 3}
    project.write_params()
    result = run_cli("report")
    assert result.exit_code == 2 and "report.worst: unknown key; did you mean 'worst_n'?" in result.stderr


def test_optional_panels_say_not_run_or_show_their_numbers(run, run_cli):
    project = run()
    assert run_cli("report").exit_code == 0
    html = report_files(project.root)["html"].read_text()
    assert "The judge stage: not run in this pipeline (metrics/judge.json does not exist)" in html
    assert "The forgetting stage: not run in this pipeline (metrics/forgetting.json does not exist)" in html
    assert "the train stage has not run here" in html and "the prepare stage has not run here" in html
    judge = {
        "schema_version": 1,
        "tasks": {"qa": {"helpfulness": {"n": 40, "base": 3.1, "candidate": 3.6, "delta": 0.5, "base_coverage": 1.0, "candidate_coverage": 0.975}}},
        "agreement": {"qa": {"n": 120, "qwk": 0.71, "qwk_ci": [0.6, 0.8], "spearman": 0.7, "exact": 0.5, "within_one": 0.9}},
        "requests": {"total": 80, "from_cache": 0, "sent": 80, "unscored": 1},
        "cost": {"ledger": [{"provider": "openai", "model": "judge-20260101", "requests": 80, "input_tokens": 9000, "output_tokens": 800, "cost_usd": 0.0123}], "spent_usd": 0.0123},
        "provenance": {"rows_file": "runs/judge.jsonl", "judge": {"provider": "openai", "model": "judge-20260101", "modes": ["pointwise"], "rubrics": {"qa_quality": "b" * 64}}},
    }
    (project.root / "metrics" / "judge.json").write_text(json.dumps(judge))
    ids = [json.loads(line)["id"] for line in (project.root / "golden_sets" / "qa.jsonl").read_text().splitlines()]
    (project.root / "runs" / "judge.jsonl").write_text(
        "".join(
            json.dumps({"task": "qa", "id": i, "mode": "pointwise", "side": side, "scores": {"helpfulness": 3.0 + (side == "candidate")},
                        "reasons": {"helpfulness": f"{i}: the {side} <em>hedges</em>"}}) + "\n"
            for i in ids for side in ("base", "candidate")
        )
    )
    (project.root / "plots").mkdir(exist_ok=True)
    (project.root / "plots" / "train_loss.csv").write_text("step,train_loss\n1,2.5\n5,2.0\n10,1.7\n")
    (project.root / "plots" / "val_loss.csv").write_text("step,val_loss\n5,2.1\n10,1.9\n")
    (project.root / "metrics" / "train.json").write_text(json.dumps({
        "schema_version": 1, "steps": 1024, "epochs": 4.0, "train_loss": 0.56, "adapter_sha256": "a" * 64,
        "trainer_path": "cached_lower_layers", "frozen_layers": 26,
        "phase_seconds": {"load_s": 2.1, "lower_layers_s": 46.3, "train_s": 296.0, "save_s": 0.1},
    }))
    (project.root / "metrics" / "forgetting.json").write_text(json.dumps({
        "schema_version": 1,
        "tasks": {"arc_easy": {
            "acc": {"n": 570, "base": 0.59, "candidate": 0.57, "delta": -0.02, "delta_ci": [-0.041, 0.002], "higher_is_better": True, "binary": True, "lm_eval": {"base": 0.59, "candidate": 0.57}},
            "gold_ll_per_byte": {"n": 570, "base": -1.05, "candidate": -1.08, "delta": -0.03, "delta_ci": [-0.04, -0.02], "higher_is_better": True, "binary": False},
        }},
        "run": {"computed": {"base": [], "candidate": ["arc_easy"]}},
        "provenance": {"scores_file": "runs/forgetting_scores.jsonl", "scores_sha256": "c" * 64, "packages": {"lm_eval": "0.4.13"},
                       "tasks": {"arc_easy": {"items": 570, "documents": 570, "task_file": "tasks/forgetting/arc_easy.yaml", "output_type": "multiple_choice"}}},
    }))  # fmt: skip
    assert run_cli("report").exit_code == 0
    html = report_files(project.root)["html"].read_text()
    assert "The forgetting stage: not run" not in html
    for text in ("Forgetting: general capability", "gold_ll_per_byte", "-0.020 [-0.041, 0.002]", "570 of 570 documents", "candidate arc_easy"):
        assert text in html, text
    md = report_files(project.root)["summary"].read_text()
    assert "| arc_easy | acc | 570 | 0.590 | 0.570 | -0.020 [-0.041, 0.002] | not gated |" in md
    summary = json.loads((project.root / "metrics" / "summary.json").read_text())
    assert summary["forgetting"]["arc_easy"]["acc"] == {"base": 0.59, "candidate": 0.57, "delta": -0.02, "ci_low": -0.041, "ci_high": 0.002, "n": 570}
    assert "frozen layers computed once, cached (layers 0-25 frozen)" in html
    assert "load 2.1, lower layers 46.3, train 296, save 0.1" in html
    assert "not run in this pipeline (metrics/judge.json" not in html
    for text in ("judge:qa/helpfulness", "judge-20260101", "0.710", "0.600 to 0.800", "0.0123", "0.975", "Biggest movers on qa"):
        assert text in html, text
    assert "Loss by step" in html and "validation loss: step 10, 1.9000" in html
    assert "runs/judge.jsonl" in html and "plots/train_loss.csv" in html  # listed among the inputs read
    # Each side-by-side item shows its own judge reason, escaped.
    first = re.search(r'<article class="item" id="item-0" data-task="qa">.*?</article>', html, re.S).group(0)
    item_id = re.search(r'<span class="id mono">(.*?)</span>', first).group(1)
    assert f"{item_id}: the candidate &lt;em&gt;hedges&lt;/em&gt;" in first and "helpfulness 4.00" in first


def test_promoted_run_adds_a_column_and_a_paired_comparison(run, run_cli, monkeypatch):
    import evalgate.stages.promote as registry

    monkeypatch.setattr(registry, "adapter_sha256", lambda d: "a" * 64)
    project = run(regress=False)
    (project.root / "models" / "adapter").mkdir(parents=True)
    assert run_cli("promote").exit_code == 0
    write_run(project.root, make_tasks(40, regress=True))
    result = run_cli("gate", "--no-fail")
    assert result.exit_code == 0, result.output
    assert run_cli("report").exit_code == 0
    html = report_files(project.root)["html"].read_text()
    assert "Δ vs promoted" in html and "exact_match ★ vs promoted" in html
    flat = json.loads(report_files(project.root)["metrics"].read_text())
    assert flat["tasks"]["qa"]["exact_match"]["vs_promoted"] == pytest.approx(-0.2)
    assert "Δ vs promoted" in report_files(project.root)["summary"].read_text()


def test_report_is_deterministic_and_carries_its_inputs(run, run_cli):
    project = run()
    assert run_cli("report").exit_code == 0
    html_path = report_files(project.root)["html"]
    first = html_path.read_bytes()
    assert run_cli("report").exit_code == 0
    assert html_path.read_bytes() == first
    html = first.decode()
    meta = json.loads(re.search(r'<script type="application/json" id="evalgate-meta">(.*?)</script>', html, re.S).group(1))
    assert meta["schema_version"] == 1 and meta["verdict"] == "fail"
    from evalgate.artifacts import sha256_file

    for name in ("metrics/eval.json", "runs/scores.jsonl", "reports/gate.json", "golden_sets/qa.jsonl"):
        assert meta["inputs"][name] == sha256_file(project.root / name)
    assert f'<meta name="evalgate-inputs-sha256" content="{meta["inputs_sha256"]}">' in html
    assert "schema_version 1" in html.split("<html", 1)[0]  # the leading HTML comment


def test_dvc_repro_writes_the_report_when_the_gate_fails(run):
    """The shipped dvc.yaml's gate -> report -> verdict chain on a failing run: `dvc repro`
    fails (at the verdict stage), and the report and summary are written all the same."""
    import subprocess
    import sys

    import yaml

    project = run(gate=False)  # qa/exact_match loses 20 points: the gate fails
    project.params["report"] = {"worst_n": 5}  # DVC tracks the stage's `report` params
    project.write_params()
    root = project.root
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    kept = {}
    for name in ("gate", "report", "verdict"):
        stage = dict(stages[name])
        # Upstream outputs are plain files here (no prepare/train/evaluate stages); keep the
        # dependencies this project has.
        stage["deps"] = [d for d in stage["deps"] if (root / d).exists() or d in ("reports/gate.json",)]
        kept[name] = stage
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": kept}, sort_keys=False))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=root, env=env, check=True)
    proc = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=root, env=env, capture_output=True, text=True)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Running stage 'report'" in proc.stdout and "failed to reproduce 'verdict'" in proc.stderr, proc.stdout + proc.stderr
    assert json.loads((root / "reports" / "gate.json").read_text())["verdict"] == "fail"
    files = report_files(root)
    assert files["html"].is_file() and files["summary"].is_file()
    assert "gate failed" in files["summary"].read_text().lower()


def test_headline_counts_every_check_honestly(run, run_cli):
    project = run()
    assert run_cli("report").exit_code == 0
    html = report_files(project.root)["html"].read_text(encoding="utf-8")
    expected = "1 of 3 checks passed, 1 failed, 1 skipped, 0 uninformative; failed: qa/exact_match max_drop_vs_base"
    assert f'<div class="summary">{expected}</div>' in html
    assert "all 1 checks passed" not in html
    md = report_files(project.root)["summary"].read_text(encoding="utf-8")
    assert expected in md


def test_uninformative_check_has_no_p_value_anywhere(run, run_cli):
    """0 vs 0: the report says undefined, never 'p < 1e-06' or an MDE of 0."""
    tasks = make_tasks(40, regress=False)
    contains = tasks[0].metrics[1]
    contains.base = [0.0] * 40
    contains.cand = [0.0] * 40
    checks = [
        {"target": "qa/exact_match", "kind": "max_drop_vs_base", "margin": 0.1},
        {"target": "qa/contains", "kind": "max_drop_vs_base", "margin": 0.05},
    ]
    project = run(tasks=tasks, checks=checks)
    assert run_cli("report").exit_code == 0
    html = report_files(project.root)["html"].read_text(encoding="utf-8")
    item = html[html.index('<li class="fail">'):]
    item = item[: item.index("</li>")]
    assert "qa/contains" in item and "uninformative" in item
    assert "one-sided p undefined" in item and "minimum detectable effect undefined" in item
    assert "1e-06" not in item and "minimum detectable effect 0.000" not in item
    assert "1 of 2 checks passed, 1 failed, 0 skipped, 1 uninformative" in html
    md = report_files(project.root)["summary"].read_text(encoding="utf-8")
    assert "1 uninformative" in md and "worst possible value" in md


def test_truncation_shares_are_shown_and_warned(run, run_cli):
    project = run(regress=False, truncated={("qa", "base"): 30, ("summ", "candidate"): 2})
    assert run_cli("report").exit_code == 0
    html = report_files(project.root)["html"].read_text(encoding="utf-8")
    block = html[html.index('id="truncation"'):]
    block = block[: block.index("</div>\n  </div>") if "</div>\n  </div>" in block else 2000]
    assert "qa base 30/40 (75%)" in block and "summ candidate 2/40 (5%)" in block
    assert '<span class="alert-inline">qa base 30/40 (75%)</span>' in html  # above the 10% warning share
    assert '<span class="muted">summ candidate 2/40 (5%)</span>' in html
    assert "ran out of tokens" in html
    md = report_files(project.root)["summary"].read_text(encoding="utf-8")
    assert "qa base 30/40 (75%) ⚠️" in md and "summ candidate 2/40 (5%);" in md or "summ candidate 2/40 (5%)." in md


def test_summary_marks_improvements_green_and_regressions_red(run, run_cli):
    project = run()
    assert run_cli("report").exit_code == 0
    md = report_files(project.root)["summary"].read_text(encoding="utf-8")
    assert "🔺" not in md and "🔻" not in md
    row = next(line for line in md.splitlines() if line.startswith("| qa | exact_match"))
    assert "🔴 worse" in row


def _git(root: Path, *args: str) -> None:
    import subprocess

    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


def test_dirty_warning_counts_only_changed_inputs(run, run_cli):
    project = run(regress=False)
    root = project.root
    (root / "dvc.yaml").write_text(yaml_dump({"stages": {"evaluate": {"cmd": "x", "outs": ["runs/scores.jsonl"], "metrics": [{"metrics/eval.json": {"cache": False}}]}}}))
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "run")
    # The pipeline's own outputs changing (as on every run) is not a dirty run.
    (root / "reports").mkdir(exist_ok=True)
    (root / "dvc.lock").write_text("schema: '2.0'\n")
    _git(root, "add", "dvc.lock")
    _git(root, "commit", "-q", "-m", "lock")
    (root / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    metrics = root / "metrics" / "eval.json"
    metrics.write_text(metrics.read_text() + " ")
    from evalgate.git import git_commit, git_state

    assert git_state(root)["dirty"] == [] and not git_commit(root).endswith("+dirty")
    assert run_cli("report").exit_code == 0
    assert 'id="dirty"' not in report_files(root)["html"].read_text(encoding="utf-8")
    # An input (a task file) changed: the report says so, naming it.
    task = root / "tasks" / "qa.yaml"
    task.write_text(task.read_text() + "# edited\n")
    assert git_state(root)["dirty"] == ["tasks/qa.yaml"] and git_commit(root).endswith("+dirty")
    assert run_cli("report").exit_code == 0
    html = report_files(root)["html"].read_text(encoding="utf-8")
    assert 'id="dirty"' in html and "tasks/qa.yaml" in html and "(report:" in html
    assert "uncommitted changes to its inputs" in report_files(root)["summary"].read_text(encoding="utf-8")


def yaml_dump(obj) -> str:
    import yaml

    return yaml.safe_dump(obj)


def test_report_is_readable_on_a_phone_sized_screen(run, run_cli, browser):
    """At 400 px the page does not scroll sideways, and the forest plot is the narrow drawing
    whose text keeps a legible size."""
    project = run(hostile=True)
    # Long unbreakable strings, as a real run has them: hashes in the data and provenance panels.
    prepared = project.root / "data" / "prepared"
    prepared.mkdir(parents=True)
    (prepared / "manifest.json").write_text(json.dumps({
        "schema_version": 1, "kind": "evalgate.prepare.manifest", "dataset_sha256": "5f9ab8bce2e3" + "0" * 52, "counts": {"read": 10, "kept": 10},
        "files": {"train.jsonl": {"sha256": "e" * 64, "records": 9}}, "removals": [],
    }))
    assert run_cli("report").exit_code == 0
    assert "5f9ab8bce2e3" in report_files(project.root)["html"].read_text(encoding="utf-8")
    page = Page(browser, report_files(project.root)["html"])
    try:
        p = page.page
        p.set_viewport_size({"width": 400, "height": 800})
        p.wait_for_timeout(50)
        overflow = p.evaluate(
            """() => {
                const w = document.documentElement.clientWidth;
                const wide = [...document.querySelectorAll('body *')].filter(e => {
                    const r = e.getBoundingClientRect();
                    return r.width > 0 && r.right > w + 1 && getComputedStyle(e).position !== 'fixed'
                        && !e.closest('table') && !e.closest('pre');
                }).map(e => e.tagName + '.' + e.className);
                return {scroll: document.documentElement.scrollWidth, client: w, wide: wide.slice(0, 5)};
            }"""
        )
        assert overflow["scroll"] <= overflow["client"], overflow
        assert overflow["wide"] == [], overflow
        assert not p.locator(".forest-wide svg").is_visible()
        narrow = p.locator(".forest-narrow svg")
        assert narrow.is_visible()
        box = narrow.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 400
        # Rendered label size: the SVG scales down, its 12 px labels must stay >= 10 px.
        label_px = p.evaluate("() => document.querySelector('.forest-narrow svg text.clabel').getBoundingClientRect().height")
        assert label_px >= 10, label_px
        p.screenshot(path=str(artifacts_dir() / "report-400px.png"), full_page=False)
        p.set_viewport_size({"width": 1280, "height": 900})
        assert p.locator(".forest-wide svg").is_visible() and not p.locator(".forest-narrow svg").is_visible()
        assert page.console == [], page.console
    finally:
        page.close()


def test_unchanged_inputs_leave_the_report_as_it_is_and_a_change_rewrites_it(run, run_cli):
    """The DVC stage runs on every repro (its optional inputs may not exist); with nothing changed
    it rewrites nothing, and any input that changed re-renders it."""
    project = run()
    assert run_cli("report").exit_code == 0
    files = report_files(project.root)
    stamps = {k: p.stat().st_mtime_ns for k, p in files.items()}
    result = run_cli("report")
    assert result.exit_code == 0 and "up to date" in result.stderr
    assert {k: p.stat().st_mtime_ns for k, p in files.items()} == stamps
    project.params["report"] = {"worst_n": 3}
    project.write_params()
    result = run_cli("report")
    assert "up to date" not in result.stderr and files["html"].stat().st_mtime_ns != stamps["html"]
    stamps = {k: p.stat().st_mtime_ns for k, p in files.items()}
    preds = project.root / "runs" / "candidate" / "predictions.jsonl"
    preds.write_text(preds.read_text().replace("site", "SITE", 1))
    result = run_cli("report")
    assert "up to date" not in result.stderr and files["html"].stat().st_mtime_ns != stamps["html"]
    files["summary"].unlink()
    assert "up to date" not in run_cli("report").stderr and files["summary"].is_file()
