"""The table of final metrics printed at the end of a run."""

from __future__ import annotations

from ssdh_lightning.metric_names import METHODS

_TIE = "_tie_"  # map@1000_tie_avg: the figures over the orders inside ties, in a table of their own


def metrics_table(metrics: dict[str, float]) -> str:
    """One row per method (bcs, es, hds, then baselines), one column per metric, the figures
    over the orders inside ties in a second table; other values (accuracy, loss) below."""
    columns: list[str] = []
    for key in metrics:
        method, _, name = key.partition("/")
        if method in METHODS and name not in columns:
            columns.append(name)
    plain = [c for c in columns if _TIE not in c]
    tied = [c for c in columns if _TIE in c]
    lines = _table(metrics, plain) + (["", *_table(metrics, tied)] if tied else [])
    others = {k: v for k, v in metrics.items() if k.partition("/")[0] not in METHODS}
    lines += [f"{key}: {value:.4f}" for key, value in others.items()]
    return "\n".join(lines)


def _table(metrics: dict[str, float], columns: list[str]) -> list[str]:
    methods = [m for m in METHODS if any(f"{m}/{c}" in metrics for c in columns)]
    width = max([len(c) for c in columns] + [7])
    names = max([len(m) for m in methods] + [8])  # itq_cca_initial
    lines = [" " * names + "".join(f"{c:>{width + 1}}" for c in columns)]
    for method in methods:
        cells = []
        for name in columns:
            value = metrics.get(f"{method}/{name}")
            cells.append(f"{'-' if value is None else f'{value:.4f}':>{width + 1}}")
        lines.append(f"{method:<{names}}" + "".join(cells))
    return lines
