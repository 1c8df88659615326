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
