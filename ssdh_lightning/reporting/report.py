"""``ssdh-report``: the table of a run or sweep folder, one row per data set x hash_bits x
training method x row (BCS, ES, HDS, baselines).

Each training run leaves ``run.json`` (data set, hash_bits, method, backbone, seed),
``metrics.json`` and ``curves.json`` in its folder; the report averages every metric over the
runs that share data set, hash_bits and training method (mean and standard deviation over
seeds) and sets the paper's figure beside the rows where the paper has one.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ssdh_lightning import metric_names
from ssdh_lightning.io import atomic_write, read_json, write_text
from ssdh_lightning.reporting import tables as report_tables
from ssdh_lightning.reporting.plots import draw_precision_curves, draw_precision_recall
from ssdh_lightning.run_files import CURVES_FILE, METRICS_FILE, RUN_FILE


@dataclass
class Run:
    folder: Path
    data: str
    hash_bits: int
    seed: int
    metrics: dict[str, float]
    curves: dict
    method: str = report_tables.DEFAULT_METHOD  # the training objective (run.json 'method')


@dataclass
class Row:
    data: str
    hash_bits: int
    method: str  # the row: bcs, es, hds or a baseline
    runs: int
    training: str = report_tables.DEFAULT_METHOD  # the training method of its runs
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)

    @property
    def paper(self) -> str:
        if self.training != report_tables.DEFAULT_METHOD:  # the paper trained lin2015 only
            return ""
        figure = report_tables.PAPER_FIGURES.get((self.data, self.hash_bits, self.method))
        return f"{figure[0]:.4f} ({figure[1]})" if figure else ""


class BrokenRun(ValueError):
    """A run folder the report cannot use: the folder, and the file and key at fault."""

    def __init__(self, folder: Path, reason: str) -> None:
        super().__init__(f"{folder}: {reason}")
        self.folder = folder


def _number(value: Any) -> bool:
    """A metric: a number, finite or NaN (a metric with nothing to score); not a bool."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return is_number and not math.isinf(value)


def _read_object(path: Path) -> dict:
    try:
        value = read_json(path)
    except OSError as error:
        raise BrokenRun(path.parent, f"{path.name} cannot be read ({error})") from None
    except ValueError as error:
        raise BrokenRun(path.parent, str(error)) from None
    if not isinstance(value, dict):
        kind = type(value).__name__
        raise BrokenRun(path.parent, f"{path.name} holds a JSON {kind}, not an object")
    return value


def _check_description(path: Path, meta: dict) -> None:
    """run.json: the keys the report groups runs by."""
    for key, kind, valid in (
        ("data", "a data set name", lambda v: isinstance(v, str) and v),
        ("hash_bits", "a positive integer", lambda v: type(v) is int and v > 0),
        ("seed", "an integer", lambda v: type(v) is int),
    ):
        if key not in meta:
            raise BrokenRun(
                path.parent, f"{path.name} has no key {key!r} (the report groups runs by it)"
            )
        if not valid(meta[key]):
            raise BrokenRun(path.parent, f"{path.name} key {key!r} is {meta[key]!r}, not {kind}")


def _check_metrics(path: Path, metrics: dict) -> None:
    for key, value in metrics.items():
        if not _number(value):
            reason = f"{path.name} key {key!r} is {value!r}, not a number (finite or NaN)"
            raise BrokenRun(path.parent, reason)
    methods = {key.partition("/")[0] for key in metrics if "/" in key}
    if not methods & set(metric_names.METHODS):
        raise BrokenRun(
            path.parent,
            f"{path.name} holds no metric of any method ({', '.join(metric_names.METHODS)}), "
            "e.g. 'bcs/map@all': nothing to report",
        )


def _check_curve(path: Path, key: str, curve: Any) -> None:
    if not isinstance(curve, list) or not curve or not all(_number(v) for v in curve):
        raise BrokenRun(path.parent, f"{path.name} key {key!r} is not a non-empty list of numbers")


def _check_curves(path: Path, curves: dict) -> None:
    """curves.json, if there is one: precision@k per mode, and BCS precision-recall."""
    if not curves:
        return
    by_mode = curves.get("precision_at_k")
    if not isinstance(by_mode, dict):
        reason = f"{path.name} key 'precision_at_k' is missing or not an object of modes"
        raise BrokenRun(path.parent, reason)
    for mode, curve in by_mode.items():
        _check_curve(path, f"precision_at_k.{mode}", curve)
    if "bcs_pr" in curves:
        pr = curves["bcs_pr"]
        for name in ("precision", "recall"):
            _check_curve(path, f"bcs_pr.{name}", pr.get(name) if isinstance(pr, dict) else None)


def read_run(folder: Path) -> Run:
    """The run in ``folder``, checked; ``BrokenRun`` names the file and key at fault."""
    meta = _read_object(folder / RUN_FILE)
    _check_description(folder / RUN_FILE, meta)
    metrics = _read_object(folder / METRICS_FILE)
    _check_metrics(folder / METRICS_FILE, metrics)
    curves_file = folder / CURVES_FILE
    curves = _read_object(curves_file) if curves_file.is_file() else {}
    _check_curves(curves_file, curves)
    method = meta.get("method", report_tables.DEFAULT_METHOD)
    if not isinstance(method, str) or not method:
        raise BrokenRun(folder, f"{RUN_FILE} key 'method' is {method!r}, not a method name")
    return Run(folder, meta["data"], meta["hash_bits"], meta["seed"], metrics, curves, method)


def find_runs(root: Path, skip_broken: bool = False) -> tuple[list[Run], list[BrokenRun]]:
    """Every training run below ``root`` (a folder with run.json and metrics.json), and the
    broken ones left out with ``skip_broken``; without it, the first broken run is raised."""
    runs, broken = [], []
    for metrics_file in sorted(root.rglob(METRICS_FILE)):
        folder = metrics_file.parent
        if not (folder / RUN_FILE).is_file():
            continue  # not a training run (an evaluation, a report's own output, ...)
        try:
            runs.append(read_run(folder))
        except BrokenRun as error:
            if not skip_broken:
                raise
            broken.append(error)
    if not runs:
        left_out = "".join(f"\n  left out: {error}" for error in broken)
        raise FileNotFoundError(
            f"no training runs below {root}: ssdh-report reads the folders where ssdh-train "
            f"wrote {RUN_FILE} and {METRICS_FILE} (outputs/train/...)" + left_out
        )
    return runs, broken


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
    groups: dict[tuple[str, int, str, str], list[dict[str, float]]] = defaultdict(list)
    for run in runs:
        for method in metric_names.METHODS:
            values = {
                n: run.metrics[f"{method}/{n}"] for n in names if f"{method}/{n}" in run.metrics
            }
            if values:
                groups[(run.data, run.hash_bits, run.method, method)].append(values)

    def order(group):
        data, hash_bits, training, method = group[0]
        return data, hash_bits, training, metric_names.METHODS.index(method)

    rows = []
    for (data, hash_bits, training, method), members in sorted(groups.items(), key=order):
        row = Row(data, hash_bits, method, len(members), training)
        for name in names:
            values = [m[name] for m in members if name in m]
            if values:
                row.mean[name] = float(np.mean(values))
                row.std[name] = float(np.std(values))
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
        label = report_tables.ROW_NAMES[row.method]
        lines.append(
            f"| {row.data} | {row.hash_bits} | {row.training} | {label} | {row.runs} | "
            + " | ".join(cells)
            + f" | {row.paper} |"
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
            [row.data, row.hash_bits, row.training, row.method, row.runs, *cells, row.paper]
        )
    return stream.getvalue()


def _mean_curve(curves: list[list[float]]) -> np.ndarray:
    depth = min(len(c) for c in curves)
    return np.mean([c[:depth] for c in curves], axis=0)


def _figures(runs: list[Run]) -> dict[str, Figure]:
    """Per data set: precision@k of the three modes, a panel per bit length; BCS PR curves."""
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
        figures[f"precision_at_k_{data}.png"] = precision
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
            figures[f"precision_recall_{data}.png"] = pr
    return figures


def write_report(root: str | Path, skip_broken: bool = False) -> tuple[list[Path], list[BrokenRun]]:
    """Write report.md (the long table, then the paper's layout), report.csv, report_paper.csv
    and the PNG plots into ``root``; returns their paths and the
    broken runs left out (``skip_broken``). Every run is checked before anything is written."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder; give a run or sweep folder")
    runs, broken = find_runs(root, skip_broken)
    rows, names = summarize(runs)
    tables = report_tables.paper_tables(runs)
    long_table = _markdown(rows, names, runs)
    written = [
        write_text(root / "report.md", long_table + "\n" + report_tables.markdown(tables)),
        write_text(root / "report.csv", _csv(rows, names)),
        write_text(root / "report_paper.csv", report_tables.csv_text(tables)),
    ]
    for name, figure in _figures(runs).items():
        written.append(
            atomic_write(root / name, lambda stream, f=figure: f.savefig(stream, format="png"))
        )
    return written, broken
