"""Templates in, text out: the HTML report, the Markdown summary, the flat DVC files.

Every template is rendered with autoescaping on (HTML) or through the `md` filter (Markdown), so
nothing a model wrote, and nothing in a golden set, can become markup. JSON placed in the page
goes through `script_json`, which also escapes what could end a <script> element.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from evalgate.contract import SCHEMA_VERSION
from evalgate.report.views import Analysis, fmt, fmt_delta

_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(obj: Any) -> Markup:
    """JSON that is safe inside <script type="application/json">: no `</script>`, no `<!--`,
    no line separators that older parsers treat as line ends."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Markup(re.sub("[<>&\u2028\u2029]", lambda m: _SCRIPT_UNSAFE[m.group()], text))


def md(value: Any) -> str:
    """Text for a Markdown table cell or list item: no HTML, no table breaks, one line, and no
    Markdown of its own (links, images, emphasis, code spans, mentions are escaped), so a task
    or check name from a pull request cannot restyle the PR comment or ping anyone."""
    text = html.escape(str(value), quote=False)
    text = re.sub(r"([\\`*\[\]~|@])", r"\\\1", text)
    return re.sub(r"\s+", " ", text).strip()


def _ci(interval: Any, digits: int = 3) -> str:
    if interval is None:
        return "—"
    return f"{fmt_delta(interval.estimate, digits)} [{fmt_delta(interval.low, digits)}, {fmt_delta(interval.high, digits)}]"


def _pm(value: float | None, se: float | None) -> str:
    if value is None:
        return "—"
    return fmt(value) if se is None else f"{fmt(value)} ± {fmt(se)}"


def human(value: Any) -> str:
    """A fact for a key/value table: thousands separators, no scientific notation for counts."""
    if isinstance(value, bool) or value is None:
        return "yes" if value is True else "no" if value is False else "—"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def pval(p: float | None) -> str:
    """' = 0.012', or '< 1e-06' for a p-value the gate rounded to zero (it keeps 6 decimals)."""
    if p is None:
        return " —"
    return " < 1e-06" if p == 0 else f" = {p:.3g}"


def sentence(text: str) -> str:
    """A note as a sentence: capital first letter, full stop at the end."""
    text = text.strip()
    return (text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")) if text else ""


def _env(*, autoescape: bool) -> Environment:
    # Sandboxed although the templates are evalgate's own: every value they print comes from
    # files a pull request may change.
    env = SandboxedEnvironment(
        loader=PackageLoader("evalgate.report", "templates"),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=fmt, delta=fmt_delta, ci=_ci, pm=_pm, md=md, human=human, pval=pval, sentence=sentence, script_json=script_json)
    env.globals["schema_version"] = SCHEMA_VERSION
    return env


def render_html(ctx: dict[str, Any]) -> str:
    return _env(autoescape=True).get_template("report.html.j2").render(**ctx)


def render_summary(ctx: dict[str, Any]) -> str:
    return _env(autoescape=False).get_template("summary.md.j2").render(**ctx)


def _numbers(obj: dict[str, Any] | None) -> dict[str, float]:
    return {k: v for k, v in (obj or {}).items() if isinstance(v, int | float) and not isinstance(v, bool)}


def flat_metrics(
    analysis: Analysis,
    gate: dict[str, Any] | None,
    prepare: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    forgetting: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Numbers only (no hashes, no strings), so `dvc metrics diff` prints a readable table: the
    gate's counts, prepare's and train's numbers, and per task and metric the means and the
    paired delta with its CI (the forgetting stage's general-capability tasks too)."""
    tasks: dict[str, dict[str, dict[str, float]]] = {}
    for m in analysis.metrics:
        row: dict[str, float] = {}
        for key, value in (("base", m.base), ("candidate", m.candidate)):
            if value is not None:
                row[key] = round(float(value), 6)
        if m.delta is not None:
            row.update(delta=round(m.delta.estimate, 6), ci_low=round(m.delta.low, 6), ci_high=round(m.delta.high, 6))
        if m.vs_promoted is not None:
            row.update(
                vs_promoted=round(m.vs_promoted.estimate, 6),
                vs_promoted_ci_low=round(m.vs_promoted.low, 6),
                vs_promoted_ci_high=round(m.vs_promoted.high, 6),
            )
        row["n"] = m.delta.n if m.delta is not None else 0
        tasks.setdefault(m.task, {})[m.metric] = row
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    if gate is not None:
        checks = gate.get("checks", [])
        out["gate"] = {
            "passed": int(gate.get("verdict") == "pass"),
            "checks": len(checks),
            "checks_failed": sum(c.get("verdict") == "fail" for c in checks),
            "checks_skipped": sum(c.get("verdict") == "skipped" for c in checks),
        }
    if prepare is not None:
        out["data"] = _numbers(prepare.get("prepare"))
    if train is not None:
        out["train"] = {k: v for k, v in _numbers(train).items() if k != "schema_version"}
    out["tasks"] = tasks
    if forgetting is not None:
        general: dict[str, dict[str, dict[str, float]]] = {}
        for task, metrics in (forgetting.get("tasks") or {}).items():
            for metric, m in (metrics or {}).items():
                row = {k: round(float(m[k]), 6) for k in ("base", "candidate", "delta") if isinstance(m.get(k), int | float)}
                ci = m.get("delta_ci") or []
                if len(ci) == 2 and all(isinstance(x, int | float) for x in ci):
                    row.update(ci_low=round(float(ci[0]), 6), ci_high=round(float(ci[1]), 6))
                row["n"] = int(m.get("n") or 0)
                general.setdefault(task, {})[metric] = row
        out["forgetting"] = general
    return out


def deltas_csv(analysis: Analysis) -> str:
    """One row per task/metric: the paired delta and its CI (for a `dvc plots` bar chart)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["target", "delta", "ci_low", "ci_high", "higher_is_better"])
    for m in analysis.metrics:
        if m.delta is not None:
            writer.writerow([m.target, f"{m.delta.estimate:.6f}", f"{m.delta.low:.6f}", f"{m.delta.high:.6f}", int(m.higher_is_better)])
    return buf.getvalue()
