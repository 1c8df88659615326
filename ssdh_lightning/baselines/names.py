"""The rows of a run's metrics, by name, and what each baseline row is.

The rows are the three modes (``metric_names.MODES``), then the baselines: every hashing
baseline (``HASHERS``, in the order they register) on the fine-tuned features, the same fit on
the features before fine-tuning (``itq_initial``, ...), and ``initial``, ES on those features
(``rows.initial_scores``). Reads the registry only: ``ssdh-report`` uses it without the engine.
"""

from __future__ import annotations

from collections.abc import Sequence

from ssdh_lightning import metric_names
from ssdh_lightning.baselines.common import HASHERS

INITIAL_HASHERS = {metric_names.on_initial(name): name for name in HASHERS}
BASELINES = (*HASHERS, *INITIAL_HASHERS, metric_names.INITIAL)
ROWS = (*metric_names.MODES, *BASELINES)

_FINE_TUNED = "fine-tuned database features"
_BEFORE_FINE_TUNING = "database features before fine-tuning"
# Each baseline row's title in the report, and what it was fit on.
TITLES = {name: hasher.title for name, hasher in HASHERS.items()}
TITLES |= {row: f"{TITLES[name]} (initial features)" for row, name in INITIAL_HASHERS.items()}
TITLES[metric_names.INITIAL] = "ES, features before fine-tuning"
FIT_ON = {name: hasher.fit_on.format(features=_FINE_TUNED) for name, hasher in HASHERS.items()}
FIT_ON |= {
    row: HASHERS[name].fit_on.format(features=_BEFORE_FINE_TUNING)
    for row, name in INITIAL_HASHERS.items()
}
FIT_ON[metric_names.INITIAL] = "the backbone's features before fine-tuning (no codes)"


def check_baselines(baselines: Sequence[str]) -> list[str]:
    """The baseline rows asked for, checked (a typo should stop a run before it trains, not
    after)."""
    baselines = list(baselines)
    unknown = [row for row in baselines if row not in BASELINES]
    if unknown:
        raise ValueError(
            f"baselines={baselines}: unknown {unknown}; choose among {', '.join(BASELINES)} "
            "(baselines=[] for none)"
        )
    return baselines


def on_initial_features(baselines: Sequence[str]) -> list[str]:
    """The rows of ``baselines`` scored on the features before fine-tuning: 'initial' (ES) and
    the hashers' ``*_initial`` rows."""
    return [row for row in baselines if row in INITIAL_HASHERS or row == metric_names.INITIAL]


def check_objective(name: str) -> str:
    """``name``, checked to be a final metric a run can have (before the run, not after)."""
    row, _, metric = str(name).partition("/")
    finals = (metric_names.VAL_ACCURACY, metric_names.VAL_CLASSIFIER_MAP, metric_names.VAL_LOSS)
    if name in map(metric_names.final, finals) or (row in ROWS and metric):
        return name
    raise ValueError(
        f"objective={name!r} names no final metric: use accuracy, classifier_map, loss or "
        f"ROW/METRIC with ROW one of {', '.join(ROWS)} "
        "(e.g. bcs/map@1000, hds/precision@100)"
    )
