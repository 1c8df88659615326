"""``search``: the k nearest database items of each query by BCS, ES or HDS, ties by position."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ssdh_lightning.retrieval import euclidean, kernels
from ssdh_lightning.retrieval.arrays import check_feature_dims, check_rows, features_array
from ssdh_lightning.retrieval.backends import ExactScan, HammingBackend, SearchParameters
from ssdh_lightning.retrieval.chunks import DEFAULT_MEMORY_BUDGET, rows_per_chunk
from ssdh_lightning.retrieval.codes import PackedCodes, check_pair, pack_codes
from ssdh_lightning.retrieval.result import SearchResult
from ssdh_lightning.retrieval.settings import (
    CODE_MODES,
    FEATURE_MODES,
    RetrievalSettings,
    check_hds_pool,
    check_k,
    check_modes,
)

__all__ = ["SearchResult", "search"]


def search(
    query,
    database,
    k: int,
    mode: str = "bcs",
    *,
    query_features=None,
    database_features=None,
    hds_threshold: int | None = None,
    hds_pool_size: int | None = None,
    database_norms=None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    hamming_backend: HammingBackend | None = None,
    nflip: int | None = None,
    nprobe: int | None = None,
) -> SearchResult:
    """Rank the database for each query; ``k`` larger than the database is clipped to it.

    ``query`` and ``database`` are codes (0/1 arrays or ``PackedCodes``; ``None`` for ES);
    ES and HDS also need features. The HDS pool is the items at Hamming distance less than
    ``hds_threshold``, or the ``hds_pool_size`` nearest (1000 when neither is given); it is ranked
    by Euclidean distance and followed by the rest in Hamming order. ES reads every database
    feature; ``database_norms`` (|x|^2 of each, float32) spares it a second pass when a caller
    searches the same database again.

    ``hamming_backend`` (``retrieval.backends``) answers the Hamming part (the BCS ranking, the
    HDS pool and the Hamming order after it), the exact scan of ``database`` when None;
    positions it does not reach are -1, with distance ``hash_bits + 1`` (BCS) or inf (HDS).
    ``nflip`` and ``nprobe`` set the backends that take them (``SearchParameters``) for this
    search only.

    A single query runs on the calling thread (waking numba's threads costs more than its search)
    unless the database is large enough to split across them (``kernels.database_parts``).
    """
    (mode,) = check_modes(mode)
    check_hds_pool(hds_threshold, hds_pool_size)
    check_k(k)
    parameters = SearchParameters(nflip=nflip, nprobe=nprobe, memory_budget=memory_budget)
    (hamming_backend or ExactScan).check_parameters(parameters)
    hamming = None
    n_query = n_database = None
    if mode in CODE_MODES:
        if query is None or database is None:
            raise ValueError(
                f"mode {mode!r} ranks by Hamming distance: pass query and database codes"
            )
        query_packed, database_packed = pack_codes(query), pack_codes(database)
        check_pair(query_packed, database_packed)
        n_query, n_database = len(query_packed), len(database_packed)
        hamming = _QueryRows(
            hamming_backend or ExactScan(database_packed), query_packed, parameters
        )
    if mode in FEATURE_MODES:
        if query_features is None or database_features is None:
            raise ValueError(
                f"mode {mode!r} ranks by Euclidean distance: pass query_features and "
                "database_features"
            )
        query_features = features_array(query_features, "query_features")
        database_features = features_array(database_features, "database_features")
        check_feature_dims(query_features, database_features)
        if n_query is not None:
            check_rows("query_features", len(query_features), "query codes", n_query)
            check_rows("database_features", len(database_features), "database codes", n_database)
        n_query, n_database = len(query_features), len(database_features)
        if n_database == 0:
            raise ValueError("the database is empty: there is nothing to rank")
    k = min(int(k), n_database)
    with kernels.calling_thread_only(n_query == 1 and kernels.database_parts(1, n_database) == 1):
        if mode == "bcs":
            return hamming.top_k(slice(None), k)
        if mode == "es":
            norms = (
                euclidean.squared_norms(database_features, memory_budget)
                if database_norms is None
                else torch.as_tensor(database_norms, dtype=torch.float32)
            )
            return _euclidean_search(query_features, database_features, norms, k, memory_budget)
        settings = RetrievalSettings(
            hds_threshold=hds_threshold, hds_pool_size=hds_pool_size, memory_budget=memory_budget
        )
        return _hierarchical_search(
            hamming, n_query, n_database, query_features, database_features, k, settings
        )


def _euclidean_search(query_features, database_features, norms, k, memory_budget) -> SearchResult:
    n_query, n_database = len(query_features), len(database_features)
    indices = np.empty((n_query, k), dtype=np.int64)
    squared = np.empty((n_query, k), dtype=np.float32)
    query_step = min(n_query, 1024)
    block = rows_per_chunk(query_step * 4 + database_features.shape[1] * 8, memory_budget)
    for start in range(0, n_query, query_step):
        rows = slice(start, start + query_step)
        held = np.zeros(len(query_features[rows]), dtype=np.int64)
        for first in range(0, n_database, block):
            last = min(first + block, n_database)
            block_distances = euclidean.squared_distances(
                query_features[rows],
                database_features[first:last],
                norms[first:last],
                memory_budget,
            ).numpy()
            kernels.merge_top_k(block_distances, first, indices[rows], squared[rows], held)
    return SearchResult(indices, np.sqrt(squared))


@dataclass(frozen=True)
class _QueryRows:
    """The backend of a search asked about rows of its queries, with its settings."""

    backend: HammingBackend
    query: PackedCodes
    parameters: SearchParameters

    def top_k(self, rows: slice, k: int) -> SearchResult:
        return self.backend.top_k(self.query[rows], k, self.parameters)

    def within(self, rows: slice, threshold: int) -> tuple[np.ndarray, np.ndarray]:
        return self.backend.within(self.query[rows], threshold, self.parameters)


def _pool_distances(hamming, query_features, database_features, items, offsets) -> np.ndarray:
    if not hamming.backend.holds_features:
        return euclidean.pool_squared_distances(query_features, database_features, items, offsets)
    local = np.arange(items.size, dtype=np.int64)
    fetched = hamming.backend.features(items)
    return euclidean.pool_squared_distances(query_features, fetched, local, offsets)


def _pools(hamming, rows: slice, k: int, n_database: int, settings: RetrievalSettings):
    """Each query's pool (database order) and the Hamming ranking that follows it, up to k."""
    rule, value = settings.pool_rule()
    depth = k if rule == "threshold" else min(max(k, value), n_database)
    ranked = hamming.top_k(rows, depth).positions
    if rule == "size":
        chosen = np.sort(ranked[:, :value], axis=1)
        pool_sizes = (chosen >= 0).sum(axis=1)
        pool_items = chosen[chosen >= 0]  # -1: a backend reached fewer than value items
    else:
        pool_sizes, pool_items = hamming.within(rows, value)
    pool_offsets = np.concatenate(([0], np.cumsum(pool_sizes)))
    return pool_sizes, pool_offsets, pool_items, ranked


def _after_pool(ranked: np.ndarray, pool: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` items of a Hamming ranking that are not in the pool, -1 padded.
    (The exact scan's pool is the ranking's head; a backend's pool and ranking may differ.)"""
    rest = ranked[(ranked >= 0) & ~np.isin(ranked, pool)][:count]
    return np.concatenate((rest, np.full(count - rest.size, -1, dtype=np.int64)))


def _hierarchical_search(
    hamming, n_query, n_database, query_features, database_features, k, settings
) -> SearchResult:
    indices = np.empty((n_query, k), dtype=np.int64)
    squared = np.empty((n_query, k), dtype=np.float32)
    step = rows_per_chunk(k * 8 * 4 + settings.pool_rule()[1] * 16, settings.memory_budget)
    sizes = []
    for start in range(0, n_query, step):
        rows = slice(start, start + step)
        pool_sizes, pool_offsets, pool_items, ranked = _pools(
            hamming, rows, k, n_database, settings
        )
        pool_distances = _pool_distances(
            hamming, query_features[rows], database_features, pool_items, pool_offsets
        )
        for a in range(len(pool_sizes)):
            span = slice(pool_offsets[a], pool_offsets[a + 1])
            best = kernels.stable_argsort(pool_distances[span])[:k]
            taken = best.size
            indices[start + a, :taken] = pool_items[span][best]
            squared[start + a, :taken] = pool_distances[span][best]
            if taken < k:
                indices[start + a, taken:] = _after_pool(ranked[a], pool_items[span], k - taken)
        sizes.append(pool_sizes)
    pool_sizes = np.concatenate(sizes)
    # a pool smaller than k is followed by items in Hamming order, still without a distance
    beyond = (np.arange(k) >= pool_sizes[:, None]) & (indices >= 0)
    squared[indices < 0] = np.inf
    squared[beyond] = _pool_distances(
        hamming,
        query_features,
        database_features,
        indices[beyond],
        np.concatenate(([0], np.cumsum(beyond.sum(axis=1)))),
    )
    return SearchResult(indices, np.sqrt(squared), pool_sizes)
