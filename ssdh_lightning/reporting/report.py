"""``ssdh-report``: the table of a run or sweep folder, one row per data set x hash_bits x
training method x row (BCS, ES, HDS, baselines), then the paper's layout (``tables``) and which
differences between rows are real (``ranking``).

The report averages every metric over the runs (``runs``) that share data set, hash_bits and
training method (mean and standard deviation over seeds) and sets the paper's figure beside the
rows where the paper has one.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ssdh_lightning.baselines import ROWS
from ssdh_lightning.config_checks import check_writable
from ssdh_lightning.io import atomic_write, write_text
from ssdh_lightning.reporting import ranking
from ssdh_lightning.reporting import tables as report_tables
from ssdh_lightning.reporting.compare import QueryBootstrap
from ssdh_lightning.reporting.files import safe_file_name
from ssdh_lightning.reporting.intervals import DEFAULT_RESAMPLES
from ssdh_lightning.reporting.markdown import cell
from ssdh_lightning.reporting.plots import draw_precision_curves, draw_precision_recall
from ssdh_lightning.reporting.runs import BrokenRun, Run, find_runs


@dataclass
class Row:
    data: str
    hash_bits: int
    name: str  # the row: bcs, es, hds or a baseline (the column "method" of the table)
    training: str  # the training method of its runs
    members: list[Run]  # its runs
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return len(self.members)

    @property
    def collapsed(self) -> int:
        """Of its runs, those whose training collapsed (Run.collapse)."""
        return sum(run.collapsed for run in self.members)

    @property
    def paper(self) -> str:
        if self.training != report_tables.DEFAULT_METHOD:  # the paper trained lin2015 only
            return ""
        figure = report_tables.paper_figure(self.members, self.hash_bits, self.name)
        return f"{figure[0]:.4f} ({figure[1]})" if figure else ""


# marks the training of a row with a collapsed run; a note under the table names it
COLLAPSE_MARK = "(collapsed)"

_KINDS = (
    "map",
    "precision",
    "ndcg",  # the multi-label measures, beside mAP and precision
    "acg",
    "wap",
    "precision_r",
    "empty_r",
    "pool_mean",
    "pool_median",
)


def _metric_names(runs: list[Run]) -> list[str]:
    """Metric names in a fixed order: mAP@k, precision@k, then the multi-label NDCG@k, ACG@k
    and WAP@k (where the data is multi-label) by k, then radius, then pool."""
    names = {key.partition("/")[2] for run in runs for key in run.metrics if "/" in key}

    def order(name: str):
        kind, _, k = name.partition("@")
        k, _, variant = k.partition("_")  # map@1000_tie_avg sorts beside map@1000
        kind = kind.rstrip("0123456789")
        rank = _KINDS.index(kind) if kind in _KINDS else len(_KINDS)
        return (rank, float("inf") if k == "all" else float(k or 0), variant, name)

    return sorted(names, key=order)


def summarize(runs: list[Run]) -> tuple[list[Row], list[str]]:
    names = _metric_names(runs)
    groups: dict[tuple[str, int, str, str], list[Run]] = defaultdict(list)
    for run in runs:
        for row in ROWS:
            if any(f"{row}/{n}" in run.metrics for n in names):
                groups[(run.data, run.hash_bits, run.training, row)].append(run)

    def order(group):
        data, hash_bits, training, row = group[0]
        return data, hash_bits, training, ROWS.index(row)

    rows = []
    for (data, hash_bits, training, name), members in sorted(groups.items(), key=order):
        row = Row(data, hash_bits, name, training, members)
        for metric in names:
            key = f"{name}/{metric}"
            values = [run.metrics[key] for run in members if key in run.metrics]
            if values:
                row.mean[metric] = float(np.mean(values))
                row.std[metric] = float(np.std(values))
        rows.append(row)
    return rows, names


def _markdown(rows: list[Row], names: list[str], runs: list[Run]) -> str:
    seeds = sorted({run.seed for run in runs})
    lines = [
        "# Retrieval report",
        "",
        f"{len(runs)} runs; seeds {seeds}. Cells are mean +- std over the runs of a row. mAP@k "
        "normalises by the relevant items within the top k (the paper's protocol); map@all is "
        "the full-ranking mAP; precision_rR is precision within Hamming radius R (the run's "
        "retrieval.radius), empty_rR the fraction of queries with nothing within it; pool_mean "
        "is the HDS candidate pool.",
        "",
        "| data | bits | training | method | runs | " + " | ".join(names) + " | paper |",
        "|" + "---|" * (len(names) + 6),
    ]
    for row in rows:
        cells = [f"{row.mean[n]:.4f} +- {row.std[n]:.4f}" if n in row.mean else "" for n in names]
        label = report_tables.ROW_NAMES[row.name]
        training = f"{cell(row.training)} {COLLAPSE_MARK}" if row.collapsed else cell(row.training)
        lines.append(
            f"| {cell(row.data)} | {row.hash_bits} | {training} | {label} | {row.runs} | "
            + " | ".join(cells)
            + f" | {row.paper} |"
        )
    return "\n".join(lines + _recipe_notes(runs) + _collapse_notes(runs)) + "\n"


def _recipe_notes(runs: list[Run]) -> list[str]:
    """A line under the table for each training of a recipe that names its source (run.json's
    ``recipe_source``): where its optimiser, rates, batch and schedule come from."""
    sources = sorted({(run.training, run.recipe, run.recipe_source) for run in runs})
    notes = [
        f"{cell(training)}: recipe={recipe}, from {cell(source)}"
        for training, recipe, source in sources
        if source
    ]
    return ["", *notes] if notes else []


def _collapse_notes(runs: list[Run]) -> list[str]:
    """A line under the table for each collapsed run, with what its check saw."""
    notes = [
        f"{COLLAPSE_MARK} {run.training}, {run.data}, {run.hash_bits} bits, seed {run.seed}: the "
        f"training collapsed ({'; '.join(run.collapse['reasons'])}); {run.folder}"
        for run in runs
        if run.collapsed
    ]
    return ["", *notes] if notes else []


def _training_time(runs: list[Run]) -> str:
    """A table of the seconds a training epoch took, per data set x hash_bits x training
    method (mean +- std over its runs that recorded it)."""
    groups: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    for run in runs:
        if run.seconds_per_epoch is not None and not math.isnan(run.seconds_per_epoch):
            groups[(run.data, run.hash_bits, run.training)].append(run.seconds_per_epoch)
    if not groups:
        return ""
    lines = [
        "## Training time",
        "",
        "Wall seconds of a training epoch, validation left out, mean +- std over the runs "
        "(machines and their load differ between sweeps: compare rows of one sweep).",
        "",
        "| data | bits | training | runs | seconds an epoch |",
        "|---|---|---|---|---|",
    ]
    for (data, hash_bits, training), seconds in sorted(groups.items()):
        lines.append(
            f"| {cell(data)} | {hash_bits} | {cell(training)} | {len(seconds)} | "
            f"{np.mean(seconds):.2f} +- {np.std(seconds):.2f} |"
        )
    return "\n".join(lines) + "\n"


def _csv(rows: list[Row], names: list[str]) -> str:
    stream = io.StringIO()
    writer = csv.writer(stream)
    writer.writerow(
        ["data", "hash_bits", "training_method", "method", "runs"]
        + [f"{n}_{stat}" for n in names for stat in ("mean", "std")]
        + ["paper"]
    )
    for row in rows:
        cells = []
        for name in names:
            cells += [row.mean.get(name, ""), row.std.get(name, "")]
        writer.writerow(
            [row.data, row.hash_bits, row.training, row.name, row.runs, *cells, row.paper]
        )
    return stream.getvalue()


def _mean_curve(curves: list[list[float]]) -> np.ndarray:
    depth = min(len(c) for c in curves)
    return np.mean([c[:depth] for c in curves], axis=0)


def _figures(runs: list[Run]) -> dict[str, Figure]:
    """Per data set: precision@k of the three modes, a panel per bit length; BCS PR curves;
    keyed by their file names (``safe_file_name``)."""
    figures = {}
    for data in sorted({run.data for run in runs}):
        mine = [run for run in runs if run.data == data and run.curves]
        bits = sorted({run.hash_bits for run in mine})
        if not bits:
            continue
        by_bits = {b: [run for run in mine if run.hash_bits == b] for b in bits}
        precision = Figure(figsize=(5 * len(bits), 4), layout="constrained")
        for i, (hash_bits, members) in enumerate(by_bits.items()):
            # the modes every member scored (runs may have scored different ones)
            modes = set.intersection(*(set(r.curves["precision_at_k"]) for r in members))
            curves = {
                mode: _mean_curve([r.curves["precision_at_k"][mode] for r in members])
                for mode in members[0].curves["precision_at_k"]
                if mode in modes
            }
            axes = precision.add_subplot(1, len(bits), i + 1)
            draw_precision_curves(axes, curves, title=f"{data}, {hash_bits} bits")
        figures[f"precision_at_k_{safe_file_name(data)}.png"] = precision
        with_pr = {b: [r for r in runs if "bcs_pr" in r.curves] for b, runs in by_bits.items()}
        pr_curves = {
            f"{hash_bits} bits": (
                _mean_curve([r.curves["bcs_pr"]["precision"] for r in members]),
                _mean_curve([r.curves["bcs_pr"]["recall"] for r in members]),
            )
            for hash_bits, members in with_pr.items()
            if members  # runs without BCS have no PR curve
        }
        if pr_curves:
            pr = Figure(figsize=(6, 4), layout="constrained")
            draw_precision_recall(
                pr.add_subplot(),
                pr_curves,
                title=f"{data}: BCS precision-recall over Hamming radii",
            )
            figures[f"precision_recall_{safe_file_name(data)}.png"] = pr
    return figures


def write_report(
    root: str | Path,
    skip_broken: bool = False,
    *,
    against: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    figures: list[str] | None = None,
) -> tuple[list[Path], list[BrokenRun]]:
    """Write report.md (the long table, the paper's layout, then which differences are real),
    report.csv, report_paper.csv, report_compare.csv and the PNG plots into ``root``; returns
    their paths and the broken runs left out (``skip_broken``). The comparison ranks the rows
    of each of ``figures`` (default: every mAP@k), each against the best row and ``against``
    (``TRAINING/ROW``, e.g. ``lin2015/bcs``), with ``resamples`` for the bootstrap over queries.
    Every run and option is checked before anything is written."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder; give a run or sweep folder")
    check_writable(
        root,
        "the report folder",
        "ssdh-report writes into the folder it reads: make it writable, or copy the run "
        "folders to one you can write and report there",
    )
    runs, broken = find_runs(root, skip_broken)
    compared = ranking.check_figures(figures, runs) if figures else ranking.figures_of(runs)
    if against is not None:
        ranking.check_against(against, runs)
    bootstrap = QueryBootstrap(resamples, figures=compared)
    rankings = ranking.rank(runs, compared, against, bootstrap)
    rows, names = summarize(runs)
    tables = report_tables.paper_tables(runs)
    long_table = _markdown(rows, names, runs)
    parts = (
        long_table,
        _training_time(runs),
        report_tables.markdown(tables),
        ranking.markdown(rankings, bootstrap),
    )
    text = "\n".join(part for part in parts if part)
    written = [
        write_text(root / "report.md", text),
        write_text(root / "report.csv", _csv(rows, names)),
        write_text(root / "report_paper.csv", report_tables.csv_text(tables)),
        write_text(root / ranking.COMPARE_CSV, ranking.csv_text(rankings)),
    ]
    for name, figure in (_figures(runs) | ranking.figures(rankings)).items():
        written.append(
            atomic_write(root / name, lambda stream, f=figure: f.savefig(stream, format="png"))
        )
    return written, broken
