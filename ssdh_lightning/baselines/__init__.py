"""The paper's baseline rows: shallow hashing (LSH, ITQ, SH, ITQ-CCA, KSH, BRE, MLH, SDH) on the
same features, fine-tuned or before fine-tuning, and ES on the features before fine-tuning."""

from ssdh_lightning.baselines.bre import BRE
from ssdh_lightning.baselines.cca import ITQCCA
from ssdh_lightning.baselines.common import CannotFit
from ssdh_lightning.baselines.hashing import ITQ, LSH
from ssdh_lightning.baselines.ksh import KSH
from ssdh_lightning.baselines.mlh import MLH
from ssdh_lightning.baselines.rows import (
    BASELINES,
    HASHERS,
    INITIAL_HASHERS,
    check_baselines,
    fitted_hasher,
    hashing_metrics,
    initial_metrics,
    on_initial_features,
)
from ssdh_lightning.baselines.sdh import SDH
from ssdh_lightning.baselines.spectral import SH

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
    "SDH",
    "SH",
    "CannotFit",
    "check_baselines",
    "fitted_hasher",
    "hashing_metrics",
    "initial_metrics",
    "on_initial_features",
]
