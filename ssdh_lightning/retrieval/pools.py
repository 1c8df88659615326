"""The HDS candidate pool: one rule for ``search`` and for the metrics.

A query's pool is the first ``pool_sizes(...)[a]`` items of its stable Hamming ranking (distance,
then database position). Both callers take the items from that ranking themselves (the metrics
inside their one scan of the database), so the sizes are where the two could disagree.
"""

from __future__ import annotations

import numpy as np

from ssdh_lightning.retrieval import kernels
from ssdh_lightning.retrieval.settings import RetrievalSettings


def pool_sizes(
    settings: RetrievalSettings, query_words: np.ndarray, database_columns: np.ndarray
) -> np.ndarray:
    """Each query's pool size: the items at distance below the threshold, or the m nearest."""
    rule, value = settings.pool_rule()
    if rule == "size":
        return np.full(len(query_words), min(value, database_columns.shape[1]), dtype=np.int64)
    sizes = np.empty(len(query_words), dtype=np.int64)
    kernels.count_within(query_words, database_columns, value, sizes)
    return sizes
