"""The paper's baseline rows: LSH and ITQ codes, and ES on the features before fine-tuning."""

from ssdh_lightning.baselines.hashing import ITQ, LSH
from ssdh_lightning.baselines.rows import (
    BASELINES,
    check_baselines,
    hashing_metrics,
    initial_metrics,
)

__all__ = ["BASELINES", "ITQ", "LSH", "check_baselines", "hashing_metrics", "initial_metrics"]
