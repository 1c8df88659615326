"""What a search returns, from the engine or from any search backend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SearchResult:
    """``positions[a]`` are the database positions ranked for query a, best first (-1 where
    fewer than k were found).

    ``distances`` are Hamming distances (int32) for BCS and Euclidean distances (float32) for ES
    and HDS; ``pool_sizes`` are the HDS candidate pools, whose items come first in HDS rankings.
    """

    positions: np.ndarray
    distances: np.ndarray
    pool_sizes: np.ndarray | None = None
