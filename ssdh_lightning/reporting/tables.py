"""The paper's layout: per data set, methods as rows and bit lengths as columns.

One figure per cell, mean +- std over seeds, the paper's figure in brackets where it has one,
and for Hamming rows the spread that the order inside ties allows (PROTOCOL.md).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from ssdh_lightning import metric_names
from ssdh_lightning.baselines import ROWS
from ssdh_lightning.baselines import names as baseline_names
from ssdh_lightning.reporting.markdown import cell
from ssdh_lightning.reporting.plots import MODE_LABELS

# The figure of each data set: the paper's mAP@1000 on CIFAR-10, the full-ranking mAP elsewhere.
FIGURE = {"cifar10": "map@1000"}
DEFAULT_FIGURE = "map@all"
DEFAULT_METHOD = "lin2015"

# Each row's title; the baselines' and what each was fit on come from where they are defined.
ROW_NAMES = {**MODE_LABELS, **baseline_names.TITLES}
FIT_ON = baseline_names.FIT_ON
_BCS = "mAP@1000, paper split, paper's code"
_CITED = "mAP cited by the paper, another protocol"
# The paper's figures (PROTOCOL.md), by (data set, hash_bits, method): value and what it is.
PAPER_FIGURES = {
    ("cifar10", 12, "bcs"): (0.8930, _BCS),
    ("cifar10", 32, "bcs"): (0.8972, _BCS),
    ("cifar10", 48, "bcs"): (0.8973, _BCS),
    ("cifar10", 128, "bcs"): (0.8968, _BCS),
    **{
        ("cifar10", 48, method): (value, _CITED)
        for method, value in (
            ("ksh", 0.356),
            ("itq_cca", 0.295),
            ("mlh", 0.211),
            ("bre", 0.196),
            ("sh", 0.130),
            ("itq", 0.175),
            ("lsh", 0.120),
        )
    },
    ("mnist", 48, "bcs"): (0.982, "precision +- 0.003, paper"),
}
# The split the paper's figures were measured on (data.protocol of cifar10 and mnist), and how
# many items it holds (PROTOCOL.md): a run of a subset of the files under that protocol's name
# (MNIST of 5,000 images) did not measure what the paper did.
PAPER_SPLIT = "paper"
PAPER_SPLIT_SIZES = {
    "cifar10": {"train": 50_000, "query": 10_000, "database": 50_000},
    "mnist": {"train": 60_000, "query": 10_000, "database": 60_000},
}


def sizes_label(sizes: dict[str, int]) -> str:
    """run.json's ``split_sizes`` as the report names a split: ``train=4000, query=1000,
    database=4000``."""
    return ", ".join(f"{key}={sizes[key]}" for key in ("train", "query", "database"))


def data_label(name: str, qualifiers: list[str]) -> str:
    """A data set as a report names it where its runs hold two splits of it: ``fashion_mnist
    (protocol=small)``, ``mnist (protocol=paper, train=4000, query=1000, database=4000)``."""
    return f"{name} ({', '.join(qualifiers)})"


def paper_figure(runs, bits: int, row: str) -> tuple[float, str] | None:
    """The paper's figure for a row of ``runs`` (of one data set and split) at ``bits``, and what
    it is; None where the paper has none, or the runs recorded another split than the paper's, by
    name or by size (a run from before runs recorded them counts as the paper's)."""
    run = runs[0]
    name = run.data_set
    if run.protocol not in (None, PAPER_SPLIT):
        return None
    paper_sizes = PAPER_SPLIT_SIZES.get(name)
    if run.split is not None and paper_sizes and run.split != sizes_label(paper_sizes):
        return None
    return PAPER_FIGURES.get((name, bits, row))


def figure_of(data_set: str) -> str:
    """The figure a data set's tables show: the paper's mAP@1000 on CIFAR-10, whatever split."""
    return FIGURE.get(data_set, DEFAULT_FIGURE)


PAPER_PROTOCOL = (
    "paper's figures in brackets: BCS mAP@1000 of the paper's code (paper split); the baselines' "
    "48-bit mAP as cited by the paper from other work (GIST features, another protocol)"
)


@dataclass
class Cell:
    mean: float
    std: float
    runs: int
    paper: float | None
    tie_avg: float | None
    tie_best: float | None
    tie_worst: float | None

    def text(self) -> str:
        text = f"{self.mean:.4f} ± {self.std:.4f}"
        if self.paper is not None:
            text += f" [{self.paper:.4f}]"
        if self.tie_best is not None and self.tie_worst is not None:
            average = "" if self.tie_avg is None else f"{self.tie_avg:.4f} in "
            text += f" (ties {average}{self.tie_worst:.4f}..{self.tie_best:.4f})"
        return text


@dataclass
class Table:
    data: str
    figure: str
    bits: list[int]
    rows: list[tuple[str, str, dict[int, Cell]]]  # (training method, row, cells by bits)


def _mean_of(runs, key: str) -> float | None:
    values = [run.metrics[key] for run in runs if key in run.metrics]
    return float(np.mean(values)) if len(values) == len(runs) else None


def _cell(data: str, row: str, bits: int, figure: str, runs) -> Cell | None:
    key = f"{row}/{figure}"
    values = [run.metrics[key] for run in runs if key in run.metrics]
    if not values:
        return None
    scored = [run for run in runs if key in run.metrics]
    ties = [
        _mean_of(scored, metric_names.tie_figure(key, figure))
        for figure in (metric_names.TIE_AVG, metric_names.TIE_BEST, metric_names.TIE_WORST)
    ]
    # the paper's figures are CIFAR-10 mAPs; MNIST's is a precision, which this table does not show
    figure_of_paper = paper_figure(runs, bits, row) if figure == "map@1000" else None
    paper = figure_of_paper[0] if figure_of_paper else None
    return Cell(float(np.mean(values)), float(np.std(values)), len(values), paper, *ties)


def paper_tables(runs) -> list[Table]:
    """One table per data set; rows in the paper's order, only those some run scored."""
    tables = []
    for data in sorted({run.data for run in runs}):
        mine = [run for run in runs if run.data == data]
        figure = figure_of(mine[0].data_set)
        bits = sorted({run.hash_bits for run in mine})
        rows = []
        for training in sorted({run.training for run in mine}):
            for row in ROWS:
                cells = {}
                for b in bits:
                    group = [r for r in mine if r.training == training and r.hash_bits == b]
                    cell = _cell(data, row, b, figure, group)
                    if cell is not None:
                        cells[b] = cell
                if cells:
                    rows.append((training, row, cells))
        tables.append(Table(data, figure, bits, rows))
    return tables


def _row_name(method: str, row: str, several_methods: bool) -> str:
    name = ROW_NAMES[row]
    if row in FIT_ON:
        name += f", fit on {FIT_ON[row]}"
    return f"{cell(method)}: {name}" if several_methods else name


def _several_methods(table: Table) -> bool:
    return len({method for method, _, _ in table.rows}) > 1


def markdown(tables: list[Table]) -> str:
    lines = ["## The paper's layout", ""]
    for table in tables:
        several = _several_methods(table)
        lines += [
            f"### {cell(table.data)}: {table.figure}, mean ± std over seeds",
            "",
            f"{PAPER_PROTOCOL}. (ties avg in worst..best): {table.figure} over the orders inside "
            "ties of Hamming distance, its expectation and the worst and best any order gives "
            "(PROTOCOL.md).",
            "",
            "| method | " + " | ".join(f"{b} bits" for b in table.bits) + " |",
            "|---|" + "---|" * len(table.bits),
        ]
        for method, row, cells in table.rows:
            texts = [cells[b].text() if b in cells else "" for b in table.bits]
            lines.append(f"| {_row_name(method, row, several)} | " + " | ".join(texts) + " |")
        lines.append("")
    return "\n".join(lines)


CSV_COLUMNS = (
    *("data", "figure", "method", "row", "fit_on", "hash_bits", "runs"),
    *("mean", "std", "paper", "tie_avg", "tie_best", "tie_worst"),
)


def csv_text(tables: list[Table]) -> str:
    stream = io.StringIO()
    writer = csv.writer(stream)
    writer.writerow(CSV_COLUMNS)
    for table in tables:
        for method, row, cells in table.rows:
            for b, c in cells.items():
                ties = (c.tie_avg, c.tie_best, c.tie_worst)
                optional = [("" if v is None else v) for v in (c.paper, *ties)]
                fit_on = FIT_ON.get(row, "")
                writer.writerow(
                    [
                        table.data,
                        table.figure,
                        method,
                        row,
                        fit_on,
                        b,
                        c.runs,
                        c.mean,
                        c.std,
                        *optional,
                    ]
                )
    return stream.getvalue()
