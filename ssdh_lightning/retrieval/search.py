"""``search``: the k nearest database items of each query by BCS, ES or HDS, ties by position."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ssdh_lightning.retrieval import euclidean, kernels, pools
from ssdh_lightning.retrieval.arrays import check_feature_dims, check_rows, features_array
from ssdh_lightning.retrieval.chunks import DEFAULT_MEMORY_BUDGET, rows_per_chunk
from ssdh_lightning.retrieval.codes import check_pair, pack_codes
from ssdh_lightning.retrieval.settings import (
    CODE_MODES,
    FEATURE_MODES,
    RetrievalSettings,
    check_hds_pool,
    check_k,
    check_modes,
)


@dataclass(frozen=True)
class SearchResult:
    """``indices[a]`` are the database positions ranked for query a, best first.

    ``distances`` are Hamming distances (int32) for BCS and Euclidean distances (float32) for ES
    and HDS; ``pool_sizes`` are the HDS candidate pools, whose items come first in HDS rankings.
    """

    indices: np.ndarray
    distances: np.ndarray
    pool_sizes: np.ndarray | None = None


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
) -> SearchResult:
    """Rank the database for each query; ``k`` larger than the database is clipped to it.

    ``query`` and ``database`` are codes (0/1 arrays or ``PackedCodes``; ``None`` for ES);
    ES and HDS also need features. The HDS pool is the items at Hamming distance less than
    ``hds_threshold``, or the ``hds_pool_size`` nearest (1000 when neither is given); it is ranked
    by Euclidean distance and followed by the rest in Hamming order. ES reads every database
    feature; ``database_norms`` (|x|^2 of each, float32) spares it a second pass when a caller
    searches the same database again.

    A single query runs on the calling thread: waking numba's threads costs more than its search.
    """
    (mode,) = check_modes(mode)
    check_hds_pool(hds_threshold, hds_pool_size)
    check_k(k)
    query_words = database_columns = None
    n_query = n_database = None
    if mode in CODE_MODES:
        if query is None or database is None:
            raise ValueError(
                f"mode {mode!r} ranks by Hamming distance: pass query and database codes"
            )
        query_packed, database_packed = pack_codes(query), pack_codes(database)
        check_pair(query_packed, database_packed)
        query_words = query_packed.words()
        database_columns = database_packed.columns
        n_query, n_database = len(query_packed), len(database_packed)
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
    with kernels.calling_thread_only(n_query == 1):
        if mode == "bcs":
            return _hamming_search(query_words, database_columns, k, memory_budget)
        if mode == "es":
            norms = (
                euclidean.squared_norms(database_features, memory_budget)
                if database_norms is None
                else torch.as_tensor(database_norms, dtype=torch.float32)
            )
            return _euclidean_search(query_features, database_features, norms, k, memory_budget)
        settings = RetrievalSettings(hds_threshold=hds_threshold, hds_pool_size=hds_pool_size)
        return _hierarchical_search(
            query_words,
            database_columns,
            query_features,
            database_features,
            k,
            settings,
            memory_budget,
        )


def _hamming_search(query_words, database_columns, k, memory_budget) -> SearchResult:
    indices = np.empty((len(query_words), k), dtype=np.int64)
    distances = np.empty((len(query_words), k), dtype=np.int32)
    step = rows_per_chunk(k * 12, memory_budget)
    for start in range(0, len(query_words), step):
        rows = slice(start, start + step)
        kernels.hamming_top_k(
            query_words[rows], database_columns, k, indices[rows], distances[rows]
        )
    return SearchResult(indices, distances)


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


def _pools(query_words, database_columns, k, settings: RetrievalSettings, memory_budget: int):
    """Each query's pool (database order) and the Hamming ranking that follows it, up to k."""
    rule, value = settings.pool_rule()
    depth = k if rule == "threshold" else min(max(k, value), database_columns.shape[1])
    hamming = _hamming_search(query_words, database_columns, depth, memory_budget)
    pool_sizes = pools.pool_sizes(settings, query_words, database_columns)
    pool_offsets = np.concatenate(([0], np.cumsum(pool_sizes)))
    if rule == "size":
        pool_items = np.sort(hamming.indices[:, :value], axis=1).ravel()
    else:
        pool_items = np.empty(pool_offsets[-1], dtype=np.int64)
        kernels.collect_within(query_words, database_columns, value, pool_offsets, pool_items)
    return pool_sizes, pool_offsets, pool_items, hamming.indices


def _hierarchical_search(
    query_words, database_columns, query_features, database_features, k, settings, memory_budget
) -> SearchResult:
    indices = np.empty((len(query_words), k), dtype=np.int64)
    squared = np.empty((len(query_words), k), dtype=np.float32)
    step = rows_per_chunk(k * 8 * 4 + settings.pool_rule()[1] * 16, memory_budget)
    sizes = []
    for start in range(0, len(query_words), step):
        rows = slice(start, start + step)
        pool_sizes, pool_offsets, pool_items, hamming_ranked = _pools(
            query_words[rows], database_columns, k, settings, memory_budget
        )
        pool_distances = euclidean.pool_squared_distances(
            query_features[rows], database_features, pool_items, pool_offsets
        )
        for a in range(len(pool_sizes)):
            span = slice(pool_offsets[a], pool_offsets[a + 1])
            best = kernels.stable_argsort(pool_distances[span])[:k]
            taken = best.size
            indices[start + a, :taken] = pool_items[span][best]
            squared[start + a, :taken] = pool_distances[span][best]
            indices[start + a, taken:] = hamming_ranked[a, taken:k]
        sizes.append(pool_sizes)
    pool_sizes = np.concatenate(sizes)
    # a pool smaller than k is followed by items in Hamming order, still without a distance
    beyond = np.arange(k) >= pool_sizes[:, None]
    squared[beyond] = euclidean.pool_squared_distances(
        query_features,
        database_features,
        indices[beyond],
        np.concatenate(([0], np.cumsum(beyond.sum(axis=1)))),
    )
    return SearchResult(indices, np.sqrt(squared), pool_sizes)
