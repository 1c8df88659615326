"""Squared Euclidean distances of each query to the items of its HDS pool, in groups of
queries that share database blocks while they are in cache."""

from __future__ import annotations

import numba as nb
import numpy as np

from ssdh_lightning.retrieval.kernels.bits import (
    as_float32,
)

_POOL_BLOCK = 256  # database rows that stay in cache while a group uses them


def pool_group_size(n_queries: int) -> int:
    """Queries whose pools are walked together: many, for rows to be reused, but enough groups to
    keep every thread busy (from the caller: numba cannot cache a kernel that asks itself)."""
    return int(np.clip(n_queries // (4 * nb.get_num_threads()), 16, 512))


@nb.njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def pool_squared_distances(
    query_features, database_features, pool_items, pool_offsets, query_order, group_size, out
):
    """out[i] = |q_a - x_j|^2 for each item j = pool_items[i] of query a's pool.

    Only the pools' rows are read, so pools over a memory-mapped database cost their own size.
    Queries go in groups of ``group_size`` consecutive ``query_order`` (order them so that
    neighbours' pools overlap); a group walks its pools block by block of the database, so a row
    stays in cache for every query of the group that needs it, and its norm is computed once.
    Pools may come in any order, but in database order each row is met once. Float sums may be
    reassociated (vectorised), but each pair's arithmetic is the same in any group.
    """
    n_groups = (query_order.size + group_size - 1) // group_size
    for group in nb.prange(n_groups):
        members = query_order[group * group_size : (group + 1) * group_size]
        cursor = np.empty(members.size, np.int64)
        stop = np.empty(members.size, np.int64)
        query_norms = np.empty(members.size, np.float32)
        first = np.iinfo(np.int64).max
        for m in range(members.size):
            cursor[m], stop[m] = pool_offsets[members[m]], pool_offsets[members[m] + 1]
            query_norms[m] = _squared_norm(query_features[members[m]])
            if cursor[m] < stop[m]:
                first = min(first, pool_items[cursor[m]])
        block_norms = np.empty(_POOL_BLOCK, np.float32)
        block = first - first % _POOL_BLOCK if first < database_features.shape[0] else 0
        busy = True
        while busy:
            busy = False
            block_norms[:] = -1.0
            block_end = block + _POOL_BLOCK
            for m in range(members.size):
                query = query_features[members[m]]
                while cursor[m] < stop[m] and pool_items[cursor[m]] < block_end:
                    # Two rows per pass over the query (it is read once for both, and the loop's
                    # tail is shared); a lone last row goes with itself, so that every distance
                    # comes out of the same arithmetic.
                    i = cursor[m]
                    i_next = i + 1
                    if i_next == stop[m] or pool_items[i_next] >= block_end:
                        i_next = i
                    row, norm = _block_row(database_features, pool_items[i], block, block_norms)
                    row_next, norm_next = _block_row(
                        database_features, pool_items[i_next], block, block_norms
                    )
                    dot, dot_next = _dot_pair(query, row, row_next)
                    _store_distance(out, i, query_norms[m], norm, dot)
                    _store_distance(out, i_next, query_norms[m], norm_next, dot_next)
                    cursor[m] = i_next + 1
                busy |= cursor[m] < stop[m]
            block = block_end


@nb.njit(inline="always")
def _block_row(database_features, item, block, block_norms):
    """Row ``item`` of the database and its squared norm, computed once per block.

    An item behind the block comes from a pool out of database order: still right, but its norm
    is not kept.
    """
    row = database_features[item]
    if item < block:
        return row, _squared_norm(row)
    if block_norms[item - block] < 0:
        block_norms[item - block] = _squared_norm(row)
    return row, block_norms[item - block]


@nb.njit(inline="always")
def _store_distance(out, i, query_norm, row_norm, dot):
    squared = query_norm + row_norm - 2 * dot
    if squared > 0:
        out[i] = squared
    elif squared <= 0:
        out[i] = np.float32(0.0)  # never -0.0
    else:  # NaN, from a non-finite feature: ranks after every finite distance (euclidean.py)
        out[i] = np.float32(np.inf)


@nb.njit(inline="always")
def _dot_pair(query, row, row_next):
    """(query . row, query . row_next) in float32."""
    dot = np.float32(0.0)
    dot_next = np.float32(0.0)
    for d in range(query.size):
        value = query[d]
        dot += value * as_float32(row[d])
        dot_next += value * as_float32(row_next[d])
    return dot, dot_next


@nb.njit(inline="always")
def _squared_norm(values):
    total = np.float32(0.0)
    for d in range(values.size):
        value = as_float32(values[d])
        total += value * value
    return total
