"""The `report` stage: a self-contained HTML regression report, a Markdown summary, DVC metrics
and plots, written whether the gate passed or failed."""

from evalgate.report.build import ReportResult, run_report

__all__ = ["ReportResult", "run_report"]
