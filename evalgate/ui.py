"""Terminal output: one stderr console, progress bars that stay quiet in logs.

User text (task and check names, reasons quoting files, a service's error body) is never read
as rich markup: the console has markup switched off, colour comes from `styled` parts, and every
printed string passes through `evalgate.redact` so no secret reaches a log.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

T = TypeVar("T")


class SafeConsole(Console):
    """A console that never parses markup and redacts secrets from everything it prints."""

    def print(self, *objects: Any, **kwargs: Any) -> None:  # type: ignore[override]
        from evalgate.redact import redact

        kwargs["markup"] = False
        super().print(*[_redacted(o, redact) for o in objects], **kwargs)


def _redacted(obj: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, Text):
        plain = redact(obj.plain)
        if plain != obj.plain:
            return Text(plain, style=obj.style)
    return obj


console = SafeConsole(stderr=True, highlight=False, soft_wrap=True, markup=False)


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line from plain strings and (text, style) pairs; no part is read as markup."""
    return Text.assemble(*parts)


def show_bars() -> bool:
    return console.is_terminal and not os.environ.get("EVALGATE_NO_PROGRESS")


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar on a terminal; plain iteration in CI logs."""
    if not show_bars():
        yield from items
        return
    if total is None and isinstance(items, Sized):
        total = len(items)
    with _bar() as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)


def info(message: str) -> None:
    console.print(message)


def warn(message: str) -> None:
    console.print(styled(("warning:", "yellow"), " ", message))


@contextlib.contextmanager
def progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar advanced by hand (`advance(n)`); silent when not on a terminal."""
    if not show_bars():
        yield lambda n: None
        return
    with _bar() as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def print_eval_table(metrics: dict, path: str) -> None:
    """Per task and metric: base, candidate, delta with its stderr; the primary metric starred."""
    from rich.table import Table

    table = Table(title=f"evaluation ({path})", title_justify="left")
    for col in ("task", "metric", "n", "base", "candidate", "delta", "± se"):
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    for task, ms in metrics["tasks"].items():
        for name, m in ms.items():
            star = "*" if m["primary"] else ""

            def f(x: float | None) -> str:
                return "-" if x is None else f"{x:.3f}"

            delta = m["delta"]
            colour = "" if delta is None or delta == 0 else ("green" if (delta > 0) == m["higher_is_better"] else "red")
            d: str | Text = f(delta) if not colour else Text(f"{delta:+.3f}", style=colour)
            table.add_row(task, name + star, str(m["n"]), f(m["base"]), f(m["candidate"]), d, f(m["delta_stderr"]))
    console.print(table)
    for task, g in metrics.get("generation", {}).items():
        sides = ", ".join(
            f"{side} {g[side]['truncated']}/{g[side]['answers']} ({g[side]['truncated_share']:.0%})"
            for side in ("base", "candidate")
            if g.get(side) and g[side]["answers"]
        )
        console.print(f"{task}: answers cut at max_new_tokens={g['max_new_tokens']}: {sides}")


def print_gate(report: dict, path: str) -> None:
    """The verdict first, failing checks first, each with its one-sentence reason."""
    order = {"fail": 0, "uninformative": 1, "pass": 2, "skipped": 3}
    for check in sorted(report["checks"], key=lambda c: order.get(c["verdict"], 4)):
        colour = {"fail": "red", "pass": "green"}.get(check["verdict"], "yellow")
        label = check["verdict"].upper() + (" (UNINFORMATIVE)" if check.get("uninformative") and check["verdict"] != "uninformative" else "")
        console.print(styled((f"{label:7s}", colour), f" {check['name']}: {check['reason']}"), highlight=False)
        for note in check.get("warnings", []):
            console.print(styled("        ", ("warning:", "yellow"), f" {note}"), highlight=False)
    policy = report.get("policy_source") or {}
    if policy.get("introduced"):
        console.print(styled(("policy:", "yellow"), " the base branch has no gate policy yet: decided under this checkout's"))
    elif policy:
        changes = policy.get("changes") or []
        console.print(f"policy: decided under the base branch's ({policy.get('base_ref', '')[:12]}); {len(changes)} change(s) in this checkout")
        for change in changes:
            colour_of = {"weakened": "red", "tightened": "green"}.get(change["kind"], "yellow")
            console.print(styled("  ", (f"{change['kind']:9s}", colour_of), f" {change['text']}"), highlight=False)
        new = policy.get("under_new_policy")
        if new:
            console.print(f"  under this checkout's own policy: {new['verdict'].upper()}: {new['summary']}", highlight=False)
    colour = "green" if report["verdict"] == "pass" else "red"
    console.print(styled((f"gate {report['verdict'].upper()}", f"bold {colour}"), f": {report['summary']} -> {path}"))


def _f(x: float | None, sign: bool = False) -> str:
    return "-" if x is None else (f"{x:+.3f}" if sign else f"{x:.3f}")


def _stage_table(metrics: dict, title: str, second: str, last: tuple[str, Any]) -> None:
    """Per task and metric of a stage's metrics file: base, candidate, delta, one more column, n."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("task", second, "base", "candidate", "delta", last[0], "n"):
        table.add_column(col, justify="left" if col in ("task", second) else "right")
    for task, ms in metrics.get("tasks", {}).items():
        for name, m in ms.items():
            table.add_row(task, name, _f(m.get("base")), _f(m.get("candidate")), _f(m.get("delta"), True), last[1](m), str(m.get("n", "")))
    console.print(table)


def print_judge_table(metrics: dict, path: str) -> None:
    """Per task and judge target: base, candidate, delta, coverage; then the judge's agreement."""
    coverage = ("coverage (b / c)", lambda m: f"{_f(m.get('base_coverage'))} / {_f(m.get('candidate_coverage'))}")
    _stage_table(metrics, f"judge -> {path}", "target", coverage)
    print_agreement({"tasks": metrics.get("agreement", {})}, None)
    for task, o in (metrics.get("order") or {}).items():
        if o.get("order_consistency") is not None:
            console.print(
                f"{task}: pairwise winner kept when the answers swap places on {o['order_consistency']:.0%} of "
                f"{o['pairs']} items (position bias: {o['position_bias']:.0%} flip)",
                highlight=False,
            )


def print_forgetting_table(metrics: dict, path: str) -> None:
    """Per general-capability task and metric: base, candidate, delta with its paired CI, n."""

    def ci(m: dict) -> str:
        low, high = m.get("delta_ci") or [None, None]
        return f"[{_f(low, True)}, {_f(high, True)}]"

    _stage_table(metrics, f"forgetting -> {path}", "metric", ("95% CI", ci))


def print_agreement(result: dict, verdicts: dict[str, list[str]] | None = None) -> None:
    """The agreement table; with `verdicts` (per task, the trust conditions its judge failed,
    evalgate.judging.trust) also whether each task's judge checks count, and why not."""
    from rich.table import Table

    table = Table(
        title="judge agreement with people on the calibration set (kappa: quadratic-weighted Cohen's kappa; rho: Spearman)",
        title_justify="left",
    )
    for col in ("task", "criterion", "grades", "coverage", "kappa", "95% CI", "rho", "exact", "within 1"):
        table.add_column(col, justify="left" if col in ("task", "criterion") else "right")

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    for task, a in result.get("tasks", {}).items():
        ci = a.get("qwk_ci") or [None, None]
        table.add_row(task, "(all)", str(a.get("n", 0)), f(a.get("coverage")), f(a.get("qwk")), f"{f(ci[0])} to {f(ci[1])}", f(a.get("spearman")), f(a.get("exact")), f(a.get("within_one")))
        for c, ca in (a.get("criteria") or {}).items():
            table.add_row("", c, str(ca.get("n", 0)), f(ca.get("coverage")), f(ca.get("qwk")), "", f(ca.get("spearman")), f(ca.get("exact")), f(ca.get("within_one")))
    console.print(table)
    for task, failed in (verdicts or {}).items():
        word = "are advisory (they do not count): " + "; ".join(failed) if failed else "count in the verdict"
        console.print(f"{task}: this judge's checks {word}", highlight=False)
