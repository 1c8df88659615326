"""Top-k by Hamming distance (stable: ties to the lower position), its merge across database
chunks, the full distance matrix, and the items within a Hamming threshold."""

from __future__ import annotations

import numba as nb
import numpy as np

from ssdh_lightning.retrieval.kernels.bits import distances_into, nearest_in_span
from ssdh_lightning.retrieval.kernels.sorting import stable_argsort


@nb.njit(parallel=True, cache=True)
def hamming_matrix(query_words, database_columns, out):
    """out[a, j] = Hamming distance between query a and database item j."""
    for a in nb.prange(query_words.shape[0]):
        row = np.empty(database_columns.shape[1], np.uint16)
        distances_into(query_words, a, database_columns, 0, row)
        out[a] = row


_TILE_QUERIES = 16  # queries that share each block of the database while it is in cache
_BLOCK_ITEMS = 8192
_SPAN = 256  # items whose nearest is checked against the cut at once
_PART_ITEMS = 1 << 17  # one query over 2 parts of 1 << 17: 0.23 ms, on one thread 0.44 ms


def database_parts(n_query: int, n_database: int) -> int:
    """How many ranges ``hamming_top_k`` splits the database into: one, unless the queries'
    tiles are fewer than the threads (a single query over 100M codes would leave all but one
    idle); then enough to give every thread work, none under ``_PART_ITEMS`` items."""
    tiles = -(-n_query // _TILE_QUERIES)
    spare = nb.get_num_threads() // max(tiles, 1)
    return max(1, min(spare, n_database // _PART_ITEMS))


@nb.njit(parallel=True, cache=True)
def hamming_top_k(query_words, database_columns, k, n_parts, indices, distances):
    """The k nearest database items of each query by Hamming distance, ties by position.

    Queries go in tiles; each tile scans ``n_parts`` ranges of the database in parallel
    (``database_parts``). A part's top k comes out sorted by (distance, position), so merging
    the parts in database order keeps ties at the lower position.
    """
    n_query = query_words.shape[0]
    n_database = database_columns.shape[1]
    n_tiles = (n_query + _TILE_QUERIES - 1) // _TILE_QUERIES
    n_parts = max(1, min(n_parts, n_database))  # an empty part would keep items it has no room for
    if n_parts == 1:
        for tile in nb.prange(n_tiles):
            first = tile * _TILE_QUERIES
            rows = slice(first, min(first + _TILE_QUERIES, n_query))
            _tile_top_k(
                query_words[rows],
                database_columns,
                0,
                n_database,
                k,
                indices[rows],
                distances[rows],
            )
        return
    bounds = n_database * np.arange(n_parts + 1) // n_parts  # part p: bounds[p] .. bounds[p + 1]
    part_sizes = np.minimum(np.diff(bounds), k)  # how many each part keeps
    part_indices = np.empty((n_parts, n_query, k), np.int64)
    part_distances = np.empty((n_parts, n_query, k), distances.dtype)
    for job in nb.prange(n_tiles * n_parts):
        tile, part = job // n_parts, job % n_parts
        first = tile * _TILE_QUERIES
        rows = slice(first, min(first + _TILE_QUERIES, n_query))
        kept = part_sizes[part]
        _tile_top_k(
            query_words[rows],
            database_columns,
            bounds[part],
            bounds[part + 1],
            kept,
            part_indices[part, rows, :kept],
            part_distances[part, rows, :kept],
        )
    for a in nb.prange(n_query):
        _merge_parts(
            part_sizes,
            k,
            part_indices[:, a],
            part_distances[:, a],
            indices[a],
            distances[a],
        )


@nb.njit(inline="always")
def _merge_parts(part_sizes, k, part_indices, part_distances, out_indices, out_distances):
    """The k best of the parts' sorted top k (``part_sizes`` each); a tie goes to the earlier
    part (lower positions)."""
    taken = np.zeros(part_sizes.size, np.int64)
    for r in range(k):
        best = -1
        for part in range(part_sizes.size):
            if taken[part] < part_sizes[part] and (
                best < 0 or part_distances[part, taken[part]] < part_distances[best, taken[best]]
            ):
                best = part
        out_indices[r] = part_indices[best, taken[best]]
        out_distances[r] = part_distances[best, taken[best]]
        taken[best] += 1


@nb.njit(inline="always")
def _tile_top_k(query_words, database_columns, lo, hi, k, indices, distances):
    """The k nearest of database items lo..hi-1 for each of a tile's queries, in one pass.

    An item is kept only if it is nearer than the query's cut: the smallest distance with k kept
    items at it or nearer. So a query keeps at most k items a distance (the buffer's bound), and
    once the cut is low almost every span of items is passed over after its nearest distance
    (``nearest_in_span``: a read of the span, nothing stored); the rest are computed again.
    The tile's queries share each database block while it is in cache.
    """
    size = query_words.shape[0]
    n_buckets = database_columns.shape[0] * 64 + 1
    capacity = k * n_buckets
    kept_items = np.empty((size, capacity), np.int64)
    kept_distances = np.empty((size, capacity), np.uint16)
    n_kept = np.zeros(size, np.int64)
    hist = np.zeros((size, n_buckets), np.int64)
    cut = np.full(size, n_buckets, np.int64)
    at_or_below = np.zeros(size, np.int64)  # kept items at the cut or nearer
    span = np.empty(_SPAN, np.uint16)
    for block in range(lo, hi, _BLOCK_ITEMS):
        block_end = min(block + _BLOCK_ITEMS, hi)
        for q in range(size):
            for start in range(block, block_end, _SPAN):
                row = span[: min(_SPAN, block_end - start)]
                if nearest_in_span(query_words, q, database_columns, start, row) >= cut[q]:
                    continue
                distances_into(query_words, q, database_columns, start, row)
                for j in range(row.size):
                    if row[j] < cut[q]:
                        _keep(
                            q,
                            start + j,
                            row[j],
                            k,
                            n_buckets,
                            kept_items,
                            kept_distances,
                            n_kept,
                            hist,
                            cut,
                            at_or_below,
                        )
    for q in range(size):
        n = n_kept[q]
        _select_sorted(
            kept_items[q, :n], kept_distances[q, :n], hist[q], k, indices[q], distances[q]
        )


@nb.njit(inline="always")
def _keep(q, item, d, k, n_buckets, kept_items, kept_distances, n_kept, hist, cut, at_or_below):
    """Keep an item nearer than query q's cut, then lower the cut while k items stay within it."""
    kept_items[q, n_kept[q]] = item
    kept_distances[q, n_kept[q]] = d
    n_kept[q] += 1
    hist[q, d] += 1
    at_or_below[q] += 1
    if cut[q] == n_buckets and at_or_below[q] == k:
        c = n_buckets - 1  # the first k items: the cut is the farthest of them
        while hist[q, c] == 0:
            c -= 1
        cut[q] = c
    while cut[q] < n_buckets and at_or_below[q] - hist[q, cut[q]] >= k:
        at_or_below[q] -= hist[q, cut[q]]
        cut[q] -= 1


@nb.njit(inline="always")
def _select_sorted(items, item_distances, hist, k, out_items, out_distances):
    """The k best of kept items (database order) by (distance, position), sorted."""
    slot = np.empty(hist.size, np.int64)
    before = 0
    for v in range(hist.size):
        slot[v] = before
        before += hist[v]
    for i in range(items.size):
        d = item_distances[i]
        s = slot[d]
        if s < k:
            out_items[s] = items[i]
            out_distances[s] = d
        slot[d] = s + 1


@nb.njit(parallel=True, cache=True)
def merge_top_k(distances, first_item, best_items, best_distances, n_best):
    """Fold a block of float distances (items ``first_item`` on) into each query's running top k.

    ``best_*[a, :n_best[a]]`` hold the k best so far, sorted, all from earlier blocks; ties keep
    the lower position because earlier items come first into the stable sort.
    """
    k = best_items.shape[1]
    n_block = distances.shape[1]
    for a in nb.prange(distances.shape[0]):
        row = distances[a]
        if n_block > k:
            cut = np.partition(row, k - 1)[k - 1]
            below = 0
            for j in range(n_block):
                below += row[j] < cut
            chosen = np.empty(k, np.int64)
            n_chosen = 0
            room_at_cut = k - below
            for j in range(n_block):
                if row[j] < cut or (row[j] == cut and room_at_cut > 0):
                    if row[j] == cut:
                        room_at_cut -= 1
                    chosen[n_chosen] = j
                    n_chosen += 1
        else:
            chosen = np.arange(n_block)
            n_chosen = n_block
        held = n_best[a]
        keys = np.empty(held + n_chosen, np.float32)
        items = np.empty(held + n_chosen, np.int64)
        keys[:held] = best_distances[a, :held]
        items[:held] = best_items[a, :held]
        for c in range(n_chosen):
            keys[held + c] = row[chosen[c]]
            items[held + c] = first_item + chosen[c]
        order = stable_argsort(keys)
        kept = min(k, order.size)
        for r in range(kept):
            best_distances[a, r] = keys[order[r]]
            best_items[a, r] = items[order[r]]
        n_best[a] = kept


@nb.njit(parallel=True, cache=True)
def count_within(query_words, database_columns, threshold, counts):
    """counts[a] = how many database items lie at Hamming distance less than ``threshold``."""
    for a in nb.prange(query_words.shape[0]):
        row = np.empty(database_columns.shape[1], np.uint16)
        distances_into(query_words, a, database_columns, 0, row)
        c = 0
        for j in range(row.size):
            c += row[j] < threshold
        counts[a] = c


@nb.njit(parallel=True, cache=True)
def collect_within(query_words, database_columns, threshold, offsets, items):
    """The items at Hamming distance less than ``threshold`` of each query, in database order."""
    for a in nb.prange(query_words.shape[0]):
        row = np.empty(database_columns.shape[1], np.uint16)
        distances_into(query_words, a, database_columns, 0, row)
        fill = offsets[a]
        for j in range(row.size):
            if row[j] < threshold:
                items[fill] = j
                fill += 1
