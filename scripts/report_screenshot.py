"""Screenshot the top of an HTML report in headless Chromium (docs/report.png: the README's picture).

The docs' report page (docs/stages/report.md) shows it too and links here.

    python scripts/report_screenshot.py [reports/report.html] [docs/report.png] [--height 1666]

Uses Debian's Chromium (EVALGATE_CHROMIUM, default /usr/bin/chromium) through Playwright, with
every non-file request blocked.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", nargs="?", type=Path, default=Path("reports/report.html"))
    ap.add_argument("out", nargs="?", type=Path, default=Path("docs/report.png"))
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=1666)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("EVALGATE_CHROMIUM", "/usr/bin/chromium"), args=ARGS)
        context = browser.new_context(viewport={"width": args.width, "height": args.height})
        context.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
        page = context.new_page()
        page.goto(args.html.resolve().as_uri(), wait_until="load")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), clip={"x": 0, "y": 0, "width": args.width, "height": args.height})
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
