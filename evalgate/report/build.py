"""The `report` stage: read, analyse, render everything in memory, then write each file atomically.

Nothing is written until every output has rendered, so an error leaves the previous report (or
none) in place, never half of a new one.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from markupsafe import Markup

from evalgate.artifacts import dump_json, write_text_atomic
from evalgate.config import Params
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


def _asset(name: str) -> tuple[Markup, str]:
    """A static asset inlined in the page, and its CSP hash (only these may run or style)."""
    text = resources.files("evalgate.report").joinpath("templates", name).read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return Markup(text), f"sha256-{digest}"


def run_report(params: Params, root: Path = Path(".")) -> ReportResult:
    rp = params.report
    inputs = load_inputs(params, root)
    analysis = analyse(inputs, rp)
    ctx = build_context(inputs, analysis, rp)
    ctx["style"], ctx["style_hash"] = _asset("report.css")
    ctx["script"], ctx["script_hash"] = _asset("report.js")
    ctx["report_path"] = rp.html
    outputs = {
        rp.html: render_html(ctx),
        rp.summary: render_summary(ctx),
        rp.metrics: dump_json(flat_metrics(analysis, inputs.gate.report, inputs.prepare_metrics, inputs.train_metrics)),
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
