"""The one place metric names are spelled: logging, checkpoint monitors, reports and tests."""

from __future__ import annotations

from ssdh_lightning.baselines import BASELINES
from ssdh_lightning.retrieval import MODES

VAL = "val/"
TRAIN_LOSS = "train/loss"
TRAIN_ACCURACY = "train/accuracy"
VAL_LOSS = "val/loss"
VAL_ACCURACY = "val/accuracy"
MONITOR = "val/bcs/map@all"  # what checkpoints keep the best of
PRECISION_CURVE = "val/precision_curve"
# the rows of a run's metrics: the three modes, then the baselines
METHODS = (*MODES, *BASELINES)


def check_objective(name: str) -> str:
    """``name``, checked to be a final metric a run can have (before the run, not after)."""
    method, _, metric = str(name).partition("/")
    if name in (final(VAL_ACCURACY), final(VAL_LOSS)) or (method in METHODS and metric):
        return name
    raise ValueError(
        f"objective={name!r} names no final metric: use accuracy, loss or METHOD/METRIC with "
        f"METHOD one of {', '.join(METHODS)} (e.g. bcs/map@1000, hds/precision@100)"
    )


def logged(metric: str) -> str:
    """The logged name of a retrieval metric: ``bcs/map@1000`` -> ``val/bcs/map@1000``."""
    return VAL + metric


def final(logged_name: str) -> str:
    """The name in metrics.json: ``val/bcs/map@1000`` -> ``bcs/map@1000``."""
    return logged_name.removeprefix(VAL)
