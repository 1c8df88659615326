"""Figures of retrieval curves (matplotlib's object API: no global state, no display)."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

MODE_LABELS = {"bcs": "BCS (Hamming)", "es": "ES (Euclidean)", "hds": "HDS (coarse to fine)"}


def draw_precision_curves(axes: Axes, curves: dict[str, np.ndarray], title: str = "") -> None:
    """precision@k against k, one line per mode."""
    for mode, curve in curves.items():
        axes.plot(np.arange(1, len(curve) + 1), curve, label=MODE_LABELS.get(mode, mode))
    axes.set(xlabel="k (number of results)", ylabel="precision@k", title=title, ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    axes.legend()


def draw_precision_recall(
    axes: Axes, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str = ""
) -> None:
    """Precision against recall, one line per label (e.g. per hash length)."""
    for label, (precision, recall) in curves.items():
        axes.plot(recall, precision, marker=".", label=label)
    axes.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1.02), ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    axes.legend()


def precision_curve_figure(curves: dict[str, np.ndarray], title: str = "") -> Figure:
    figure = Figure(figsize=(6, 4), layout="constrained")
    draw_precision_curves(figure.add_subplot(), curves, title)
    return figure


def draw_row_intervals(
    axes: Axes,
    names: list[str],
    means: list[float],
    intervals: list[tuple[float, float] | None],
    xlabel: str,
    title: str = "",
) -> None:
    """One row a line, top to bottom: its mean (a dot) and its interval (a bar), where it has
    one."""
    positions = np.arange(len(names))[::-1]
    for position, mean, interval in zip(positions, means, intervals, strict=True):
        if interval is not None:
            axes.plot(interval, (position, position), color="tab:blue", linewidth=2)
        axes.plot(mean, position, "o", color="tab:blue" if interval else "tab:gray")
    axes.set_yticks(positions, names)
    axes.set(xlabel=xlabel, title=title, ylim=(-0.7, len(names) - 0.3))
    axes.grid(axis="x", alpha=0.3)
