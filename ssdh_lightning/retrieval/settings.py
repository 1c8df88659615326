"""Options of an evaluation, checked once, with errors that list what is allowed. Every message
starts with the setting's name, so that a config check can name it with its group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ssdh_lightning.metric_names import MODES
from ssdh_lightning.retrieval.chunks import DEFAULT_MEMORY_BUDGET

FEATURE_MODES = ("es", "hds")
CODE_MODES = ("bcs", "hds")
ALL = "all"
DEFAULT_HDS_POOL_SIZE = 1000

TopK = int | str


def _is_count(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_modes(modes: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(modes, str):
        modes = (modes,)
    modes = tuple(modes)
    unknown = [mode for mode in modes if mode not in MODES]
    if not modes or unknown or len(set(modes)) != len(modes):
        raise ValueError(
            f"modes must be distinct names among {MODES}, got {modes!r}"
            + (f" (unknown: {unknown})" if unknown else "")
        )
    return modes


def check_ks(name: str, ks: Sequence[TopK]) -> tuple[TopK, ...]:
    ks = tuple(ks)
    for k in ks:
        if not (k == ALL or (_is_count(k) and k > 0)):
            raise ValueError(f"{name} takes positive integers or 'all', got {k!r} in {ks!r}")
    return ks


def check_k(k) -> None:
    if not (_is_count(k) and k >= 1):
        raise ValueError(f"k must be a positive integer, got {k!r}")


def check_hds_pool(hds_threshold: int | None, hds_pool_size: int | None) -> None:
    if hds_threshold is not None and hds_pool_size is not None:
        raise ValueError(
            f"hds_threshold={hds_threshold} and hds_pool_size={hds_pool_size}: give the HDS "
            "pool either by hds_threshold (Hamming distance less than it) or by hds_pool_size "
            "(that many nearest by Hamming), not both"
        )
    if hds_threshold is not None and not (_is_count(hds_threshold) and hds_threshold >= 0):
        raise ValueError(f"hds_threshold must be an integer >= 0, got {hds_threshold!r}")
    if hds_pool_size is not None and not (_is_count(hds_pool_size) and hds_pool_size > 0):
        raise ValueError(f"hds_pool_size must be an integer >= 1, got {hds_pool_size!r}")


@dataclass(frozen=True)
class RetrievalSettings:
    """What to score (modes, the k's of mAP@k and precision@k, radius, HDS pool, the BCS
    figures over the orders inside ties) and the bytes that one step of the evaluation may hold."""

    modes: tuple[str, ...] = MODES
    map_at: tuple[TopK, ...] = (1000, ALL)
    precision_at: tuple[TopK, ...] = (1, 10, 100, 1000)
    radius: int = 2
    hds_threshold: int | None = None
    hds_pool_size: int | None = None
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    tie_figures: bool = False

    def __post_init__(self) -> None:
        # Sequences from configs (lists, ListConfig) become tuples, so settings compare and hash.
        object.__setattr__(self, "modes", check_modes(self.modes))
        object.__setattr__(self, "map_at", check_ks("map_at", self.map_at))
        object.__setattr__(self, "precision_at", check_ks("precision_at", self.precision_at))
        if not (_is_count(self.radius) and self.radius >= 0):
            raise ValueError(f"radius must be an integer >= 0, got {self.radius!r}")
        check_hds_pool(self.hds_threshold, self.hds_pool_size)
        if not isinstance(self.tie_figures, bool | np.bool_):
            raise ValueError(f"tie_figures must be true or false, got {self.tie_figures!r}")
        if not (_is_count(self.memory_budget) and self.memory_budget > 0):
            raise ValueError(
                f"memory_budget must be a positive number of bytes, got {self.memory_budget!r}"
            )

    def top(self, n_database: int) -> int:
        """How many leading ranks the top-k metrics read: the largest k, clipped to the database."""
        counts = [k for k in (*self.map_at, *self.precision_at) if k != ALL]
        return min(max(counts, default=1), n_database)

    def pool_rule(self) -> tuple[str, int]:
        """('threshold', t) or ('size', m); a pool of DEFAULT_HDS_POOL_SIZE when neither is set."""
        if self.hds_threshold is not None:
            return "threshold", self.hds_threshold
        return "size", self.hds_pool_size or DEFAULT_HDS_POOL_SIZE
