"""Inline SVG charts, drawn in Python so the report needs no script library and no network.

Every piece of text that reaches the SVG goes through `html.escape`; the functions return
`markupsafe.Markup` so the template inserts them as they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup

BASE_COLOUR = "#8c959f"
CAND_COLOUR = "#0969da"
WORSE_COLOUR = "#cf222e"
BETTER_COLOUR = "#1a7f37"
NEUTRAL_COLOUR = "#57606a"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return ticks


def _tick_label(v: float, ticks: Sequence[float]) -> str:
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else abs(v) or 1.0
    decimals = max(0, -math.floor(math.log10(step)))
    scaled = step * 10**decimals
    if abs(scaled - round(scaled)) > 1e-9:  # steps like 0.25
        decimals += 1
    return f"{v:.{min(decimals, 6)}f}"


def _t(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "", size: int | None = None, fill: str | None = None) -> str:
    attrs = f' x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"'
    if cls:
        attrs += f' class="{cls}"'
    if size:
        attrs += f' font-size="{size}"'
    if fill:
        attrs += f' fill="{fill}"'
    return f"<text{attrs}>{escape(text)}</text>"


def _svg(width: int, height: int, body: list[str], label: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">' + "".join(body) + "</svg>"
    )


@dataclass
class ForestRow:
    """One interval, in the direction where right is better for the candidate."""

    label: str
    estimate: float
    low: float
    high: float
    text: str  # the numbers printed at the right
    bounds: list[float] = field(default_factory=list)  # gate bounds: the CI's worse end must clear them
    status: str = "none"  # better | worse | none
    failed: bool = False
    group: str = ""


def forest(rows: Sequence[ForestRow], *, title: str) -> Markup:
    """A forest plot: each row's estimate and CI, zero, and the gate's margins as red ticks.

    Two drawings of the same numbers, one shown by the page's width: a wide one (label, interval
    and numbers side by side) and, on a phone-sized screen, a narrow one where each row's label
    and numbers sit above its interval, so the text keeps its size instead of shrinking with
    an 860-pixel drawing."""
    if not rows:
        return Markup("")
    return Markup(
        f'<div class="forest"><div class="forest-wide">{_forest(rows, title=title, narrow=False)}</div>'
        f'<div class="forest-narrow">{_forest(rows, title=title, narrow=True)}</div></div>'
    )


def _forest(rows: Sequence[ForestRow], *, title: str, narrow: bool) -> Markup:
    if narrow:
        label_w, plot_w, text_w, row_h, top, bottom = 12, 340, 12, 40, 34, 46
    else:
        label_w, plot_w, text_w, row_h, top, bottom = 250, 420, 190, 24, 34, 46
    width = label_w + plot_w + text_w
    groups = []
    for r in rows:
        if not groups or groups[-1] != r.group:
            groups.append(r.group)
    group_h = 24
    height = top + row_h * len(rows) + group_h * len(groups) + bottom
    values = [0.0] + [v for r in rows for v in (r.low, r.high, *r.bounds) if math.isfinite(v)]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or 0.05
    lo, hi = lo - pad, hi + pad
    ticks = nice_ticks(lo, hi, 4 if narrow else 6)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])

    def x(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    body = [_t(width / 2 if narrow else label_w + plot_w / 2, 16, title, anchor="middle", cls="ctitle")]
    y = top
    current = None
    for r in rows:
        if r.group != current:
            current = r.group
            body.append(_t(6, y + 16, r.group, cls="cgroup"))
            y += group_h
        colour = {"better": BETTER_COLOUR, "worse": WORSE_COLOUR}.get(r.status, NEUTRAL_COLOUR)
        if r.failed:
            body.append(f'<rect x="0" y="{y}" width="{width}" height="{row_h}" fill="#ffebe9"/>')
        if narrow:  # label and numbers on one line, the interval below them
            body.append(_t(label_w, y + 14, r.label, cls="clabel"))
            body.append(_t(width - text_w, y + 14, r.text, anchor="end", cls="cnum"))
            cy, y0 = y + 29, y + 20
        else:
            cy, y0 = y + row_h / 2, y + 2
            body.append(_t(18, cy + 4, r.label, cls="clabel"))
        for b in r.bounds:
            body.append(
                f'<line x1="{x(b):.1f}" x2="{x(b):.1f}" y1="{y0}" y2="{y + row_h - 2}" stroke="{WORSE_COLOUR}" '
                f'stroke-width="2" stroke-dasharray="3,2"><title>{escape(f"gate bound {b:+.3g}")}</title></line>'
            )
        body.append(
            f'<line x1="{x(r.low):.1f}" x2="{x(r.high):.1f}" y1="{cy:.1f}" y2="{cy:.1f}" stroke="{colour}" stroke-width="2"/>'
            f'<line x1="{x(r.low):.1f}" x2="{x(r.low):.1f}" y1="{cy - 5:.1f}" y2="{cy + 5:.1f}" stroke="{colour}" stroke-width="2"/>'
            f'<line x1="{x(r.high):.1f}" x2="{x(r.high):.1f}" y1="{cy - 5:.1f}" y2="{cy + 5:.1f}" stroke="{colour}" stroke-width="2"/>'
            f'<rect x="{x(r.estimate) - 4:.1f}" y="{cy - 4:.1f}" width="8" height="8" fill="{colour}">'
            f"<title>{escape(f'{r.label}: {r.text}')}</title></rect>"
        )
        if not narrow:
            body.append(_t(label_w + plot_w + 10, cy + 4, r.text, cls="cnum"))
        y += row_h
    body.append(f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top - 4}" y2="{y}" stroke="#24292f" stroke-width="1"/>')
    body.append(f'<line x1="{label_w}" x2="{label_w + plot_w}" y1="{y}" y2="{y}" stroke="#8c959f"/>')
    for t in ticks:
        body.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{y}" y2="{y + 4}" stroke="#8c959f"/>')
        body.append(_t(x(t), y + 16, _tick_label(t, ticks), anchor="middle", cls="ctick"))
    if narrow:  # at the plot's edges: zero may sit too close to one to fit a label beside it
        body.append(_t(label_w, y + 34, "\u2190 candidate worse", anchor="start", cls="caxis", fill=WORSE_COLOUR))
        body.append(_t(label_w + plot_w, y + 34, "candidate better \u2192", anchor="end", cls="caxis", fill=BETTER_COLOUR))
    else:
        body.append(_t(x(0) - 8, y + 34, "\u2190 candidate worse", anchor="end", cls="caxis", fill=WORSE_COLOUR))
        body.append(_t(x(0) + 8, y + 34, "candidate better \u2192", anchor="start", cls="caxis", fill=BETTER_COLOUR))
    return _svg(width, height, body, title)


def histogram(base: Sequence[float], cand: Sequence[float], *, bins: int, title: str) -> Markup:
    """Overlaid histograms of base and candidate scores, with both means marked."""
    if not base and not cand:
        return Markup("")
    width, height, left, right, top, bottom = 380, 170, 34, 10, 26, 38
    values = [*base, *cand]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    step = (hi - lo) / bins

    def counts(vals: Sequence[float]) -> list[int]:
        out = [0] * bins
        for v in vals:
            out[min(int((v - lo) / step), bins - 1)] += 1
        return out

    cb, cc = counts(base), counts(cand)
    peak = max(max(cb), max(cc), 1)
    pw, ph = width - left - right, height - top - bottom

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * pw

    def bar_h(c: int) -> float:
        return c / peak * ph

    body = [_t(left, 14, title, cls="ctitle")]
    bw = pw / bins
    for i in range(bins):
        for cnt, colour, shift in ((cb[i], BASE_COLOUR, 0.0), (cc[i], CAND_COLOUR, bw / 2)):
            if cnt:
                side = "base" if colour == BASE_COLOUR else "candidate"
                rng = f"[{lo + i * step:.3g}, {lo + (i + 1) * step:.3g})"
                body.append(
                    f'<rect x="{left + i * bw + shift + 0.5:.1f}" y="{top + ph - bar_h(cnt):.1f}" width="{max(bw / 2 - 1, 1):.1f}" '
                    f'height="{bar_h(cnt):.1f}" fill="{colour}"><title>{escape(f"{side}: {cnt} items in {rng}")}</title></rect>'
                )
    for vals, colour in ((base, BASE_COLOUR), (cand, CAND_COLOUR)):
        if vals:
            m = sum(vals) / len(vals)
            body.append(
                f'<line x1="{x(m):.1f}" x2="{x(m):.1f}" y1="{top - 2}" y2="{top + ph}" stroke="{colour}" stroke-width="2" stroke-dasharray="4,2"/>'
            )
    body.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="#8c959f"/>')
    ticks = nice_ticks(lo, hi, 4)
    for t in ticks:
        if lo - 1e-12 <= t <= hi + 1e-12:
            body.append(_t(x(t), top + ph + 14, _tick_label(t, ticks), anchor="middle", cls="ctick"))
    body.append(_t(left - 4, top + 8, str(peak), anchor="end", cls="ctick"))
    body.append(_t(left - 4, top + ph, "0", anchor="end", cls="ctick"))
    mb = f"{sum(base) / len(base):.3f}" if base else "—"
    mc = f"{sum(cand) / len(cand):.3f}" if cand else "—"
    body.append(f'<rect x="{left}" y="{height - 13}" width="10" height="10" fill="{BASE_COLOUR}"/>')
    body.append(_t(left + 14, height - 4, f"base (mean {mb}, n={len(base)})", cls="clegend"))
    body.append(f'<rect x="{left + 190}" y="{height - 13}" width="10" height="10" fill="{CAND_COLOUR}"/>')
    body.append(_t(left + 204, height - 4, f"candidate ({mc}, n={len(cand)})", cls="clegend"))
    return _svg(width, height, body, title)


def lines(series: dict[str, Sequence[tuple[float, float]]], *, title: str, x_label: str, y_label: str) -> Markup:
    """A line chart (e.g. train and validation loss by step); every point has a tooltip."""
    series = {k: v for k, v in series.items() if v}
    if not series:
        return Markup("")
    width, height, left, right, top, bottom = 640, 250, 56, 130, 26, 40
    xs = [p[0] for s in series.values() for p in s]
    ys = [p[1] for s in series.values() for p in s]
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(ys), max(ys)
    if x_hi - x_lo < 1e-12:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    pad = (y_hi - y_lo) * 0.1 or abs(y_hi) * 0.1 or 1.0
    y_lo, y_hi = y_lo - pad, y_hi + pad
    pw, ph = width - left - right, height - top - bottom

    def x(v: float) -> float:
        return left + (v - x_lo) / (x_hi - x_lo) * pw

    def y(v: float) -> float:
        return top + ph - (v - y_lo) / (y_hi - y_lo) * ph

    body = [_t(left, 14, title, cls="ctitle")]
    yt = nice_ticks(y_lo, y_hi, 5)
    for t in yt:
        body.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#eaeef2"/>')
        body.append(_t(left - 6, y(t) + 4, _tick_label(t, yt), anchor="end", cls="ctick"))
    xt = nice_ticks(x_lo, x_hi, 6)
    for t in xt:
        body.append(_t(x(t), top + ph + 16, _tick_label(t, xt), anchor="middle", cls="ctick"))
    body.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="#8c959f"/>')
    body.append(_t(left + pw / 2, height - 6, x_label, anchor="middle", cls="caxis"))
    body.append(_t(14, top + ph / 2, y_label, anchor="middle", cls="caxis").replace("<text", f'<text transform="rotate(-90 14 {top + ph / 2:.1f})"', 1))
    colours = [CAND_COLOUR, "#bf3989", "#9a6700", BASE_COLOUR]
    for n, (name, pts) in enumerate(series.items()):
        colour = colours[n % len(colours)]
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(px):.1f},{y(py):.1f}" for i, (px, py) in enumerate(pts))
        body.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, py in pts:
            body.append(
                f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="3" fill="{colour}"><title>{escape(f"{name}: step {px:g}, {py:.4f}")}</title></circle>'
            )
        ly = top + 10 + n * 18
        body.append(f'<rect x="{left + pw + 14}" y="{ly - 9}" width="12" height="4" fill="{colour}"/>')
        body.append(_t(left + pw + 32, ly - 3, name, cls="clegend"))
    return _svg(width, height, body, title)
