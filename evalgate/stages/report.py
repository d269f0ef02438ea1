"""The `report` stage: read, analyse, render everything in memory, then write each file atomically.

Nothing is written until every output has rendered, so an error leaves the previous report (or
none) in place, never half of a new one.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from markupsafe import Markup

from evalgate import __version__
from evalgate.artifacts import dump_json, sha256_json, write_text_atomic
from evalgate.config import Params
from evalgate.git import git_state
from evalgate.report.analysis import analyse
from evalgate.report.context import build_context
from evalgate.report.loaders import load_inputs
from evalgate.report.render import deltas_csv, flat_metrics, render_html, render_summary


@dataclass
class ReportResult:
    html: str
    summary: str
    metrics: str
    deltas_plot: str
    html_bytes: int
    verdict: str
    notes: list[str] = field(default_factory=list)
    up_to_date: bool = False
    """Nothing the report depends on changed since it was written: nothing was rewritten."""


def _asset(name: str) -> tuple[Markup, str]:
    """A static asset inlined in the page, and its CSP hash (only these may run or style)."""
    text = resources.files("evalgate.report").joinpath("templates", name).read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return Markup(text), f"sha256-{digest}"


RENDER_KEY = re.compile(r'<meta name="evalgate-render-key" content="([0-9a-f]{64})">')


def render_key(params: Params, files: dict[str, str], root: Path) -> str:
    """Everything the four outputs depend on: every input file's sha256, the settings that shape
    the report, evalgate's version and templates, and the commit (with its changed inputs)."""
    templates = resources.files("evalgate.report").joinpath("templates")
    return sha256_json({
        "inputs": dict(sorted(files.items())),
        "report": params.report.model_dump(mode="json"),
        "warn_truncated_share": params.evaluate.warn_truncated_share,
        "gate": params.gate.model_dump(mode="json") if params.gate else None,
        "evalgate": __version__,
        "templates": {t.name: hashlib.sha256(t.read_bytes()).hexdigest() for t in sorted(templates.iterdir(), key=lambda t: t.name) if t.is_file()},
        "git": git_state(root),
    })


def _current(root: Path, paths: list[str], key: str) -> bool:
    if not all((root / p).is_file() for p in paths):
        return False
    with open(root / paths[0], encoding="utf-8", errors="replace") as fh:
        head = fh.read(4096)
    match = RENDER_KEY.search(head)
    return match is not None and match.group(1) == key


def run_report(params: Params, root: Path = Path(".")) -> ReportResult:
    rp = params.report
    inputs = load_inputs(params, root)
    key = render_key(params, inputs.files, root)
    if _current(root, [rp.html, rp.summary, rp.metrics, rp.deltas_plot], key):
        return ReportResult(
            html=rp.html, summary=rp.summary, metrics=rp.metrics, deltas_plot=rp.deltas_plot,
            html_bytes=(root / rp.html).stat().st_size, verdict=inputs.gate.state,
            notes=[f"{panel}: {text}" for panel, text in sorted(inputs.notes.items())], up_to_date=True,
        )
    analysis = analyse(inputs, rp)
    ctx = build_context(inputs, analysis, rp)
    ctx["meta"]["render_key"] = key
    ctx["style"], ctx["style_hash"] = _asset("report.css")
    ctx["script"], ctx["script_hash"] = _asset("report.js")
    ctx["report_path"] = rp.html
    outputs = {
        rp.html: render_html(ctx),
        rp.summary: render_summary(ctx),
        rp.metrics: dump_json(flat_metrics(analysis, inputs.gate.report, inputs.prepare_metrics, inputs.train_metrics, inputs.forgetting)),
        rp.deltas_plot: deltas_csv(analysis),
    }
    for path, text in outputs.items():
        write_text_atomic(root / path, text)
    return ReportResult(
        html=rp.html,
        summary=rp.summary,
        metrics=rp.metrics,
        deltas_plot=rp.deltas_plot,
        html_bytes=len(outputs[rp.html].encode("utf-8")),
        verdict=inputs.gate.state,
        notes=[f"{panel}: {text}" for panel, text in sorted(inputs.notes.items())],
    )
