"""How big the HTML report gets and how fast a browser opens it, against the limits.

Synthesises an evaluated run with `--items` items per model (default 1,000, split over two tasks
with two metrics each; answers 300-800 characters, prompts up to 800), gates it, renders the
report with the default `report:` settings, and opens it in headless Chromium (Debian's
/usr/bin/chromium, or $EVALGATE_CHROMIUM) with the network blocked. Prints the file size and the
load time (navigation start to the end of the load event, median of --loads) as ratios of the
5 MB and 2 s limits.

    .venv/bin/python benchmarks/report_size.py [--items 1000] [--loads 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evalgate.config import load_params  # noqa: E402
from evalgate.stages.gate import run_gate  # noqa: E402
from evalgate.stages.report import run_report  # noqa: E402
from tests.report_fixtures import gate_params, make_tasks, write_run  # noqa: E402

SIZE_LIMIT_MB = 5.0
LOAD_LIMIT_S = 2.0
BROWSER_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def build(root: Path, items: int) -> tuple[Path, float]:
    """Write the synthetic run under `root`, gate it, render the report; return its path and
    the seconds `evalgate report` took."""
    per_task = items // 2
    write_run(root, make_tasks(per_task, regress=True, answer_chars=(300, 800)))
    params = {
        "model": {"base": "smollm2-135m-instruct"},
        "prepare": {"inputs": [{"path": "data/raw/train.jsonl"}]},
        "gate": gate_params(resamples=10_000),
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    cwd = Path.cwd()
    os.chdir(root)
    try:
        cfg = load_params(Path("params.yaml"))
        run_gate(cfg)
        start = time.perf_counter()
        result = run_report(cfg)
        seconds = time.perf_counter() - start
    finally:
        os.chdir(cwd)
    return root / result.html, seconds


def load_times(html: Path, loads: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("EVALGATE_CHROMIUM", "/usr/bin/chromium")
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        for _ in range(loads):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto(html.as_uri(), wait_until="load")
            ms = page.evaluate(
                "(() => { const n = performance.getEntriesByType('navigation')[0];"
                " return n.loadEventEnd > 0 ? n.loadEventEnd : performance.now(); })()"
            )
            if errors:
                raise SystemExit(f"the report raised in the browser: {errors[0]}")
            times.append(ms / 1000.0)
            context.close()
        browser.close()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=1000, help="items per model (split over two tasks)")
    ap.add_argument("--loads", type=int, default=5, help="browser loads to take the median of")
    ap.add_argument("--keep", type=Path, help="write the run and report here instead of a temporary directory")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        html, render_s = build(root, args.items)
        size_mb = html.stat().st_size / 1e6
        times = load_times(html, args.loads)
        load_s = statistics.median(times)
        print(f"items per model: {args.items:,} (2 tasks x {args.items // 2:,}, 2 metrics each); report rendered in {render_s:.2f} s")
        print(f"report.html: {size_mb:.2f} MB = {size_mb / SIZE_LIMIT_MB:.3f} x the {SIZE_LIMIT_MB:g} MB limit")
        print(
            f"load in headless Chromium: {load_s:.3f} s (median of {len(times)}: "
            + ", ".join(f"{t:.3f}" for t in times)
            + f") = {load_s / LOAD_LIMIT_S:.3f} x the {LOAD_LIMIT_S:g} s limit"
        )
        if args.keep:
            print(f"kept: {html}")


if __name__ == "__main__":
    main()
