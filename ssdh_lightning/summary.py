"""The table of final metrics printed at the end of a run."""

from __future__ import annotations

from ssdh_lightning.retrieval import MODES


def metrics_table(metrics: dict[str, float]) -> str:
    """One row per mode, one column per metric; other values (accuracy, pool sizes) below."""
    columns: list[str] = []
    for key in metrics:
        mode, _, name = key.partition("/")
        if mode in MODES and name not in columns:
            columns.append(name)
    modes = [m for m in MODES if any(key.startswith(f"{m}/") for key in metrics)]
    width = max([len(c) for c in columns] + [6])
    lines = [" " * 5 + "".join(f"{c:>{width + 2}}" for c in columns)]
    for mode in modes:
        cells = []
        for name in columns:
            value = metrics.get(f"{mode}/{name}")
            cells.append(f"{'-' if value is None else f'{value:.4f}':>{width + 2}}")
        lines.append(f"{mode:<5}" + "".join(cells))
    others = {k: v for k, v in metrics.items() if k.partition("/")[0] not in MODES}
    lines += [f"{key}: {value:.4f}" for key, value in others.items()]
    return "\n".join(lines)
