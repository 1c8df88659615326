"""The table of final metrics printed at the end of a run."""

from __future__ import annotations

from ssdh_lightning.metric_names import METHODS


def metrics_table(metrics: dict[str, float]) -> str:
    """One row per method (bcs, es, hds, then baselines), one column per metric; other values
    (accuracy, loss) below."""
    columns: list[str] = []
    for key in metrics:
        method, _, name = key.partition("/")
        if method in METHODS and name not in columns:
            columns.append(name)
    methods = [m for m in METHODS if any(key.startswith(f"{m}/") for key in metrics)]
    width = max([len(c) for c in columns] + [7])
    lines = [" " * 8 + "".join(f"{c:>{width + 1}}" for c in columns)]
    for method in methods:
        cells = []
        for name in columns:
            value = metrics.get(f"{method}/{name}")
            cells.append(f"{'-' if value is None else f'{value:.4f}':>{width + 1}}")
        lines.append(f"{method:<8}" + "".join(cells))
    others = {k: v for k, v in metrics.items() if k.partition("/")[0] not in METHODS}
    lines += [f"{key}: {value:.4f}" for key, value in others.items()]
    return "\n".join(lines)
