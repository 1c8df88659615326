"""``ssdh-report``: tables, the paper's layout, plots, and the comparison of rows with
confidence intervals from per-query figures. Imports no torch: it turns run folders (JSON and
numpy files) into Markdown, CSV and PNG.

From Python, ``compare(run_a, run_b, "bcs/map@all")`` gives the difference of one figure between
two runs (or two sets of runs: the seeds of two rows), its interval and how it was computed."""

from ssdh_lightning.reporting.compare import Comparison, compare
from ssdh_lightning.reporting.report import write_report
from ssdh_lightning.reporting.runs import BrokenRun, Run, find_runs, read_run

__all__ = ["BrokenRun", "Comparison", "Run", "compare", "find_runs", "read_run", "write_report"]
