"""Figures of retrieval curves (matplotlib's object API: no global state, no display)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

MODE_LABELS = {"bcs": "BCS (Hamming)", "es": "ES (Euclidean)", "hds": "HDS (coarse to fine)"}


def precision_curve_figure(curves: dict[str, np.ndarray], title: str = "") -> Figure:
    """precision@k against k for each mode."""
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    for mode, curve in curves.items():
        axes.plot(np.arange(1, len(curve) + 1), curve, label=MODE_LABELS.get(mode, mode))
    axes.set(xlabel="k (number of results)", ylabel="precision@k", title=title, ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    axes.legend()
    return figure


def precision_recall_figure(
    curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str = ""
) -> Figure:
    """Precision against recall; one curve per label, e.g. per hash length."""
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    for label, (precision, recall) in curves.items():
        axes.plot(recall, precision, marker=".", label=label)
    axes.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1.02), ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    axes.legend()
    return figure
