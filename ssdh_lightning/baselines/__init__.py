"""The paper's baseline rows: LSH and ITQ codes, and ES on the features before fine-tuning."""

from ssdh_lightning.baselines.hashing import ITQ, LSH
from ssdh_lightning.baselines.rows import BASELINES, baseline_metrics, check_baselines

__all__ = ["BASELINES", "ITQ", "LSH", "baseline_metrics", "check_baselines"]
