"""One side of an evaluation, the queries or the database: what the engine scores, by name."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssdh_lightning.retrieval.codes import PackedCodes


@dataclass(frozen=True)
class EvaluationSet:
    """The items of one side, in data-set order. ``labels``: class ids (n,) or a 0/1 multi-label
    matrix (n, classes); ``codes``: 0/1 (n, hash_bits) or packed, for BCS and HDS; ``features``
    (n, d), for ES and HDS; ``positions``: each item's index in its data set (to show it);
    ``probs``: the latent layer's sigmoid outputs, where they were kept."""

    labels: np.ndarray
    codes: np.ndarray | PackedCodes | None = None
    features: np.ndarray | None = None
    positions: np.ndarray | None = None
    probs: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int) -> EvaluationSet:
        """The first ``n`` items."""
        return EvaluationSet(*(None if values is None else values[:n] for values in self._fields()))

    def _fields(self) -> tuple:
        return (self.labels, self.codes, self.features, self.positions, self.probs)
