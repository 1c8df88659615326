"""The report's comparison of rows: for each data set x hash_bits x figure, the rows (training
method x BCS, ES, HDS or baseline) ranked by their mean over seeds, and each row's difference
from the best row and from the row ``--against`` names, with its interval (``compare``): a
Markdown section, ``report_compare.csv`` (one line per pair) and a PNG per data set of the rows'
means with their intervals, a panel per bit length and figure.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure

from ssdh_lightning.baselines import ROWS
from ssdh_lightning.reporting.compare import (
    BOOTSTRAP,
    PAIRED_T,
    WELCH_T,
    Comparison,
    QueryBootstrap,
    Side,
    compare_sides,
    missing_per_query,
)
from ssdh_lightning.reporting.files import safe_file_name
from ssdh_lightning.reporting.intervals import Interval, t_interval
from ssdh_lightning.reporting.markdown import cell
from ssdh_lightning.reporting.plots import draw_row_intervals
from ssdh_lightning.reporting.runs import Run

COMPARE_CSV = "report_compare.csv"
BEST, AGAINST = "best", "against"


@dataclass
class RankedRow:
    """A row of a ranking: its mean over its runs, the interval of that mean (Student's t over
    its seeds, or the bootstrap over the queries of its one run), and its comparisons with the
    best row and the ``--against`` row (absent for the row itself)."""

    side: Side
    mean: float
    runs: int
    interval: Interval | None
    versus: dict[str, Comparison] = field(default_factory=dict)


@dataclass
class Ranking:
    data: str
    hash_bits: int
    figure: str
    rows: list[RankedRow]
    against: str | None  # the name of the --against row, where this group has it
    notes: list[str]


def figures_of(runs: list[Run]) -> list[str]:
    """The mAP figures the runs scored (``map@1000``, ``map@all``): compared by default."""
    names = {key.partition("/")[2] for run in runs for key in run.metrics}
    return sorted(
        (name for name in names if name.startswith("map@") and "_" not in name),
        key=lambda name: (name == "map@all", name),
    )


def check_figures(figures: list[str], runs: list[Run]) -> list[str]:
    """``--figures``: each one some row of the runs has per query (mAP@k or precision@k)."""
    scored = {key.partition("/")[2] for run in runs for key in run.metrics}
    comparable = sorted(n for n in scored if n.startswith(("map@", "precision@")) and "_" not in n)
    unknown = [figure for figure in figures if figure not in comparable]
    if unknown or not figures:
        raise ValueError(
            f"--figures {' '.join(figures)}: the runs have no figure {', '.join(unknown)}; "
            f"choose among {', '.join(comparable)}"
        )
    return figures


def check_against(against: str, runs: list[Run]) -> str:
    """``--against TRAINING/ROW`` (``lin2015/bcs``): a row some run scored."""
    rows = sorted(
        {
            f"{run.training}/{key.partition('/')[0]}"
            for run in runs
            for key in run.metrics
            if key.partition("/")[0] in ROWS
        }
    )
    if against not in rows:
        raise ValueError(
            f"--against {against}: no run scored this row; give TRAINING/ROW, one of "
            f"{', '.join(rows)}"
        )
    return against


def _own_interval(side: Side, bootstrap: QueryBootstrap) -> Interval | None:
    runs = side.scored
    if len(runs) >= 2:
        return t_interval([run.metrics[side.key] for run in runs], bootstrap.confidence)
    if missing_per_query(runs[0], side.key):
        return None
    return bootstrap.row_interval(runs[0], side.key)


def rank(
    runs: list[Run], figures: list[str], against: str | None, bootstrap: QueryBootstrap
) -> list[Ranking]:
    """One ranking per data set x hash_bits x figure, rows by their mean, best first."""
    rankings = []
    for data, hash_bits in sorted({(run.data, run.hash_bits) for run in runs}):
        group = [run for run in runs if (run.data, run.hash_bits) == (data, hash_bits)]
        by_method = defaultdict(list)
        for run in group:
            by_method[run.training].append(run)
        for figure in figures:
            sides = [
                Side(tuple(members), f"{row}/{figure}")
                for method, members in sorted(by_method.items())
                for row in ROWS
            ]
            sides = [side for side in sides if side.scored]
            if sides:
                rankings.append(_ranking(data, hash_bits, figure, sides, against, bootstrap))
    return rankings


def _ranking(data, hash_bits, figure, sides, against, bootstrap) -> Ranking:
    rows = [
        RankedRow(
            side,
            float(np.mean([run.metrics[side.key] for run in side.scored])),
            len(side.scored),
            _own_interval(side, bootstrap),
        )
        for side in sides
    ]
    rows.sort(key=lambda row: -row.mean)
    references = {BEST: rows[0]}
    named = next((row for row in rows if row.side.name == against), None)
    notes = []
    if named is not None:
        references[AGAINST] = named
    elif against is not None:
        notes.append(f"no row {against} at {hash_bits} bits: no difference from it")
    unexplained: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        for role, reference in references.items():
            if reference is not row:
                comparison = compare_sides(row.side, reference.side, bootstrap)
                row.versus[role] = comparison
                if comparison.reason:
                    unexplained[comparison.reason].append(
                        f"{row.side.name} - {reference.side.name}"
                    )
    for reason, pairs in unexplained.items():
        notes.append(f"no interval for {', '.join(dict.fromkeys(pairs))}: {reason}")
    return Ranking(data, hash_bits, figure, rows, named and named.side.name, notes)


def _number(value: float, sign: str = "+") -> str:
    return f"{value:{sign}.4f}"


def _interval(interval: Interval | None, sign: str = "+") -> str:
    if interval is None:
        return ""
    return f"[{_number(interval.low, sign)}, {_number(interval.high, sign)}]"


def _how(comparison: Comparison) -> str:
    counted = {PAIRED_T: "paired seeds", WELCH_T: "runs", BOOTSTRAP: "queries"}
    return (
        f"{comparison.kind}, {comparison.count} {counted[comparison.kind]}"
        if comparison.kind
        else ""
    )


def _cells(row: RankedRow, role: str) -> list[str]:
    comparison = row.versus.get(role)
    if comparison is None:
        return ["(this row)", "", "", ""]
    ties = comparison.tie_range
    return [
        f"{_number(comparison.difference)} {_interval(comparison.interval)}".strip(),
        _how(comparison),
        "" if ties is None else f"{_number(ties.low)}..{_number(ties.high)}",
        comparison.verdict,
    ]


def markdown(rankings: list[Ranking], bootstrap: QueryBootstrap) -> str:
    confidence = f"{bootstrap.confidence:.0%}"
    lines = [
        "## Which differences are real",
        "",
        f"Rows ranked by their mean over seeds, with its {confidence} interval (Student's t over "
        "the row's seeds; with one run, the bootstrap over its queries). Δ is a row minus the "
        f"best row, or minus the row named by --against, with its {confidence} interval. "
        "interval: `t`, Student's t over the per-seed differences, seeds paired by "
        "seed number; `welch`, Welch's t over the two rows' runs where they share fewer than "
        "two seeds; `bootstrap`, a paired bootstrap over the queries of the two rows' runs of "
        f"their one shared seed ({bootstrap.resamples} resamples, seed {bootstrap.seed}). ties: "
        "the range of Δ over the orders inside ties of Hamming distance. verdict: "
        "distinguishable (the interval excludes 0 and so does the tie range), not "
        "distinguishable (the interval contains 0), tie-breaking (the interval excludes 0 but "
        'an order inside ties would erase Δ). PROTOCOL.md, "Confidence intervals", defines '
        "each.",
        "",
    ]
    for ranking in rankings:
        roles = [BEST] + ([AGAINST] if ranking.against else [])
        header = ["rank", "row", "runs", "mean [interval]"]
        for role in roles:
            name = "best" if role == BEST else cell(ranking.against)
            header += [f"Δ {name} [interval]", "interval", "ties", "verdict"]
        lines += [
            f"### {cell(ranking.data)}, {ranking.hash_bits} bits: {ranking.figure}",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        for position, row in enumerate(ranking.rows, start=1):
            cells = [str(position), cell(row.side.name), str(row.runs)]
            cells.append(f"{_number(row.mean, '')} {_interval(row.interval, '')}".strip())
            for role in roles:
                cells += _cells(row, role)
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", *(f"- {note}" for note in ranking.notes)]
        lines += [""] if ranking.notes else []
    return "\n".join(lines)


CSV_COLUMNS = (
    *("data", "hash_bits", "figure", "row", "reference", "compared_as"),
    *("row_mean", "reference_mean", "difference", "low", "high", "interval", "n", "resamples"),
    *("tie_low", "tie_high", "distinguishable", "within_ties", "verdict", "how", "reason"),
)


def csv_text(rankings: list[Ranking]) -> str:
    """One line per pair (a row and the best row or the --against row; one line where the two
    are the same row)."""
    stream = io.StringIO()
    writer = csv.writer(stream)
    writer.writerow(CSV_COLUMNS)
    for ranking in rankings:
        means = {row.side.name: row.mean for row in ranking.rows}
        best = ranking.rows[0].side.name
        for row in ranking.rows:
            for role, comparison in row.versus.items():
                reference = best if role == BEST else ranking.against
                if role == AGAINST and reference == best:
                    continue  # the line of the best row says it
                roles = "best and against" if role == BEST and best == ranking.against else role
                writer.writerow(_csv_line(ranking, row, reference, roles, means, comparison))
    return stream.getvalue()


def _csv_line(ranking, row, reference, roles, means, comparison: Comparison) -> list:
    interval, ties = comparison.interval, comparison.tie_range
    distinguishable = comparison.distinguishable
    return [
        *(ranking.data, ranking.hash_bits, ranking.figure, row.side.name, reference, roles),
        *(row.mean, means[reference], comparison.difference),
        *(("", "") if interval is None else (interval.low, interval.high)),
        *(comparison.kind, comparison.count or "", comparison.resamples or ""),
        *(("", "") if ties is None else (ties.low, ties.high)),
        "" if distinguishable is None else str(distinguishable).lower(),
        str(comparison.within_ties).lower(),
        *(comparison.verdict, comparison.how, comparison.reason),
    ]


def figures(rankings: list[Ranking]) -> dict[str, Figure]:
    """Per data set, ``compare_<data>.png``: a panel per figure (rows) and bit length
    (columns), each row's mean and interval, best at the top."""
    out = {}
    for data in sorted({r.data for r in rankings}):
        mine = [r for r in rankings if r.data == data]
        bits = sorted({r.hash_bits for r in mine})
        names = list(dict.fromkeys(r.figure for r in mine))
        tallest = max(len(r.rows) for r in mine)
        plot = Figure(
            figsize=(5 * len(bits), (0.3 * tallest + 1.2) * len(names)), layout="constrained"
        )
        plot.suptitle(f"{data}: each row's mean over seeds and its interval")
        grid = plot.subplots(len(names), len(bits), squeeze=False)
        for ranking in mine:
            axes = grid[names.index(ranking.figure), bits.index(ranking.hash_bits)]
            draw_row_intervals(
                axes,
                [row.side.name for row in ranking.rows],
                [row.mean for row in ranking.rows],
                [
                    None if r.interval is None else (r.interval.low, r.interval.high)
                    for r in ranking.rows
                ],
                xlabel=ranking.figure,
                title=f"{data}, {ranking.hash_bits} bits",
            )
        for axes in grid.flat:
            if not axes.has_data():
                axes.set_axis_off()
        out[f"compare_{safe_file_name(data)}.png"] = plot
    return out
