"""The paper's baseline rows: shallow hashing (LSH, ITQ, SH, ITQ-CCA, KSH, BRE, MLH, SDH) on the
same features, fine-tuned or before fine-tuning, and ES on the features before fine-tuning.

Importing this package registers every hashing baseline in ``HASHERS`` and names the rows
(``names``) without loading the retrieval engine, so ``ssdh-report`` reads them; the scoring
functions (``rows``: ``hashing_metrics``, ...) load the engine on first use."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ssdh_lightning.baselines.common import HASHERS, CannotFit, Hasher

# The order of registration is the order of the rows: the paper's.
# isort: off
from ssdh_lightning.baselines.hashing import ITQ, LSH
from ssdh_lightning.baselines.spectral import SH
from ssdh_lightning.baselines.cca import ITQCCA
from ssdh_lightning.baselines.ksh import KSH
from ssdh_lightning.baselines.bre import BRE
from ssdh_lightning.baselines.mlh import MLH
from ssdh_lightning.baselines.sdh import SDH

# isort: on
from ssdh_lightning.baselines.names import (
    BASELINES,
    INITIAL_HASHERS,
    ROWS,
    check_baselines,
    check_objective,
    on_initial_features,
)

_SCORING = ("fitted_hasher", "hashing_metrics", "hashing_scores", "initial_metrics")


def __getattr__(name: str) -> Any:
    if name not in _SCORING:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.rows"), name)


__all__ = [
    "BASELINES",
    "BRE",
    "HASHERS",
    "INITIAL_HASHERS",
    "ITQ",
    "ITQCCA",
    "KSH",
    "LSH",
    "MLH",
    "ROWS",
    "SDH",
    "SH",
    "CannotFit",
    "Hasher",
    "check_baselines",
    "check_objective",
    "on_initial_features",
    *_SCORING,
]
