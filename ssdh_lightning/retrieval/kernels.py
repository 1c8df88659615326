"""Compiled inner loops of the engine (numba), parallel over queries.

Every ranking here is stable: ties go to the lower database position, as PROTOCOL.md requires.
Hamming rankings are never sorted. Distances are small integers, so the rank of an item is the
number of items in lower distance buckets plus its place in its own bucket; a pass in database
order counts both, and a second visits only the relevant items (and the HDS pool's candidates)
to score them. Float rankings (ES, the HDS pool) use a stable LSD radix sort.

Database codes come as uint64 words laid out by column, (words, n), so that the distance loop
over the database is contiguous and vectorises (AVX-512 VPOPCNTQ where the CPU has it).

Scores are accumulated per query a into ``stats[a]`` (see STATS_* below: the sum of
relrank/rank over relevant items, their number, and per cut-off of ``cutoffs`` the same sum and
count within it) and ``hits[a, r - 1] = 1`` for each relevant rank r up to ``hits.shape[1]``.
(Separate arrays, not a tuple: numba's parallel loops lose writes into arrays held in tuples.)
The callers allocate every output, so they own the memory budget.
"""

from __future__ import annotations

from contextlib import contextmanager

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

_SMALL_SORT = 100  # below this, a merge sort beats the radix sort's fixed cost
STATS_AP_SUM, STATS_RELEVANT, STATS_CUTOFFS = 0, 1, 2  # then ap@cutoff sums, then counts


@intrinsic
def _popcount(typingctx, word):
    """The hardware population count of a uint64 (llvm.ctpop)."""
    if word != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@intrinsic
def _lowest_bit(typingctx, word):
    """The index of the lowest set bit of a nonzero uint64 (llvm.cttz), as an int64."""
    if word != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.int64(types.uint64), codegen


@intrinsic
def _half_to_float(typingctx, bits):
    """A float16 (given by its bits, as numba has no float16 type) widened to float32."""
    if bits != types.uint16:
        return None

    def codegen(context, builder, signature, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return types.float32(types.uint16), codegen


def _float32(value):
    """float32 of a feature value: float16 arrays reach the kernels viewed as uint16."""


@overload(_float32, inline="always")
def _float32_overload(value):
    if value == types.uint16:
        return lambda value: _half_to_float(value)
    if isinstance(value, types.Float):
        return lambda value: np.float32(value)
    return None


@nb.njit(inline="always")
def _distances(query_words, a, database_columns, first, out):
    """out[i] = Hamming distance of query a to database item first + i.

    One pass per word over contiguous slices, so that LLVM vectorises each (a 2-D slice or a
    running sum of words per item would not be).
    """
    for w in range(database_columns.shape[0]):
        word = query_words[a, w]
        column = database_columns[w, first : first + out.size]
        if w == 0:
            for i in range(out.size):
                out[i] = np.uint16(_popcount(word ^ column[i]))
        else:
            for i in range(out.size):
                out[i] += np.uint16(_popcount(word ^ column[i]))


@nb.njit(inline="always")
def _relevant(query_labels, a, database_labels, j, multi_label):
    if multi_label:
        for w in range(query_labels.shape[1]):  # noqa: SIM110 - a loop numba compiles tightly
            if query_labels[a, w] & database_labels[j, w]:
                return True
        return False
    return query_labels[a, 0] == database_labels[j, 0]


@nb.njit(inline="always")
def _keys(query_words, a, database_columns, query_labels, database_labels, multi_label, keys):
    """keys[j] = 2 * distance + relevant: the bucket of item j and whether it is relevant."""
    _distances(query_words, a, database_columns, 0, keys)
    if multi_label:
        for j in range(keys.size):
            keys[j] = 2 * keys[j] + _relevant(query_labels, a, database_labels, j, True)
    else:
        label = query_labels[a, 0]
        column = database_labels[:, 0]
        for j in range(keys.size):
            keys[j] = 2 * keys[j] + (column[j] == label)


@nb.njit(inline="always")
def _add_top(stats, hits, a, rank, precision, cutoffs):
    """A relevant item ranked within the deepest cut-off into query a's top-k scores.

    (Sums over all ranks are kept in local variables by the callers: a sum held in ``stats``
    would make every relevant item wait for the previous one's store.)
    """
    for t in range(cutoffs.size):
        if rank <= cutoffs[t]:
            stats[a, STATS_CUTOFFS + t] += precision
            stats[a, STATS_CUTOFFS + cutoffs.size + t] += 1
    hits[a, rank - 1] = 1


@contextmanager
def calling_thread_only(active: bool = True):
    """Run the kernels called inside on the calling thread alone (when ``active``)."""
    if not active:
        yield
        return
    threads = nb.get_num_threads()
    nb.set_num_threads(1)
    try:
        yield
    finally:
        nb.set_num_threads(threads)


def query_groups(n_queries: int) -> int:
    """Queries are dealt to this many groups (a few per thread); each allocates its buffers once.

    Passed in by the caller: numba cannot cache a kernel that asks for its thread count itself.
    """
    return max(1, min(n_queries, 4 * nb.get_num_threads()))


@nb.njit(parallel=True, cache=True)
def hamming_histograms(
    query_words,
    database_columns,
    query_labels,
    database_labels,
    multi_label,
    hist,
    hist_rel,
    n_groups,
):
    """How many database items, and relevant ones, lie at each distance of each query."""
    for group in nb.prange(n_groups):
        keys = np.empty(database_columns.shape[1], np.uint16)
        for a in range(group, query_words.shape[0], n_groups):
            _keys(
                query_words, a, database_columns, query_labels, database_labels, multi_label, keys
            )
            for j in range(keys.size):
                hist[a, keys[j] >> 1] += 1
                hist_rel[a, keys[j] >> 1] += keys[j] & 1


@nb.njit(parallel=True, cache=True)
def hamming_scores(
    query_words,
    database_columns,
    query_labels,
    database_labels,
    multi_label,
    cutoffs,
    pool_sizes,
    pool_offsets,
    pool_items,
    bcs_stats,
    bcs_hits,
    outside_stats,
    outside_hits,
    hist,
    hist_rel,
    pooled,
    n_groups,
):
    """Score the Hamming ranking of each query from two passes over its distances.

    Every relevant item goes into the ``bcs_*`` scores; with ``pooled`` (HDS), those ranked after
    the query's pool (the first ``pool_sizes[a]`` of the ranking, the HDS candidates) also into
    ``outside_*``, and the pool is written to ``pool_items`` in database order. The histograms of
    distances are kept.

    The first pass gives every item its place in its bucket (the items of its distance before
    it), so that the buckets' offsets then give each item's rank. The second pass visits only the
    relevant and the pooled items, found 64 at a time through bit masks: a branch per item on its
    label is mispredicted about once per relevant item, which cost more than both passes.
    """
    n_database = database_columns.shape[1]
    n_buckets = hist.shape[1]
    max_pool = pool_sizes.max() if pool_sizes.size else 0
    for group in nb.prange(n_groups):
        keys = np.empty(n_database, np.uint16)
        place = np.empty(n_database, np.int32)
        # per relevant item, in database order: its rank, its bucket and the relevant items of
        # that bucket before it
        rank = np.empty(n_database, np.int64)
        bucket = np.empty(n_database, np.uint16)
        ahead_rel = np.empty(n_database, np.int32)
        top = np.empty(n_database, np.int64)
        pool_taken = np.empty(max_pool + 1, np.int64)
        counts = np.empty(n_buckets, np.int64)
        relevant = np.empty(n_buckets, np.int64)
        offset = np.empty(n_buckets, np.int64)  # items in nearer buckets
        offset_rel = np.empty(n_buckets, np.int64)
        for a in range(group, query_words.shape[0], n_groups):
            _keys(
                query_words, a, database_columns, query_labels, database_labels, multi_label, keys
            )
            counts[:] = 0
            for j in range(n_database):
                v = keys[j] >> 1
                c = counts[v]
                place[j] = c
                counts[v] = c + 1
            _offsets(counts, offset)
            pool = pool_sizes[a]
            cut, room = _pool_cut(counts, pool)
            near = np.uint16(2 * cut + 2 if pool > 0 else 0)  # keys below: buckets to the cut
            relevant[:] = 0
            n_rel = 0
            n_pool = 0
            for first in range(0, n_database, 64):
                rel_mask, near_mask = _masks(keys[first : first + 64], near)
                while rel_mask:
                    j = first + _lowest_bit(rel_mask)
                    rel_mask &= rel_mask - np.uint64(1)
                    v = keys[j] >> 1
                    rank[n_rel] = offset[v] + place[j] + 1
                    bucket[n_rel] = v
                    ahead_rel[n_rel] = relevant[v]
                    relevant[v] += 1
                    n_rel += 1
                while near_mask:
                    j = first + _lowest_bit(near_mask)
                    near_mask &= near_mask - np.uint64(1)
                    pool_taken[n_pool] = j  # kept or overwritten: no branch to mispredict
                    n_pool += (keys[j] >> 1 < cut) | (place[j] < room)
            pool_items[pool_offsets[a] : pool_offsets[a + 1]] = pool_taken[:pool]
            _offsets(relevant, offset_rel)
            hist[a] = counts
            hist_rel[a] = relevant
            depth = cutoffs[-1]
            ap_sum = 0.0
            ap_outside = 0.0
            n_top = 0
            for i in range(n_rel):
                precision = (offset_rel[bucket[i]] + ahead_rel[i] + 1) / rank[i]
                ap_sum += precision
                ap_outside += precision if pooled and rank[i] > pool else 0.0
                # the few within the top cut-offs, listed without a branch (it would mispredict)
                top[n_top] = i
                n_top += rank[i] <= depth
            for t in range(n_top):
                i = top[t]
                precision = (offset_rel[bucket[i]] + ahead_rel[i] + 1) / rank[i]
                _add_top(bcs_stats, bcs_hits, a, rank[i], precision, cutoffs)
                if pooled and rank[i] > pool:
                    _add_top(outside_stats, outside_hits, a, rank[i], precision, cutoffs)
            bcs_stats[a, STATS_AP_SUM] = ap_sum
            bcs_stats[a, STATS_RELEVANT] = n_rel
            outside_stats[a, STATS_AP_SUM] = ap_outside
            outside_stats[a, STATS_RELEVANT] = n_rel


@nb.njit(inline="always")
def _offsets(counts, out):
    """out[v] = the sum of counts[:v]."""
    before = 0
    for v in range(counts.size):
        out[v] = before
        before += counts[v]


@nb.njit(inline="always")
def _pool_cut(hist, k):
    """The farthest bucket of the first k items, and how many items of it they take."""
    if k == 0:
        return 0, 0
    cut = 0
    below = 0
    while below + hist[cut] < k:
        below += hist[cut]
        cut += 1
    return cut, k - below


@nb.njit(inline="always")
def _masks(keys, near):
    """Bit masks of up to 64 keys: the relevant (odd) keys and those below ``near``.

    With 64 keys the loop compiles to vector compares (indices from 0 need no wrap-around test).
    """
    rel_mask = np.uint64(0)
    near_mask = np.uint64(0)
    if keys.size == 64:
        for u in range(64):
            rel_mask |= np.uint64(keys[u] & 1) << np.uint64(u)
            near_mask |= np.uint64(keys[u] < near) << np.uint64(u)
    else:
        for u in range(keys.size):
            rel_mask |= np.uint64(keys[u] & 1) << np.uint64(u)
            near_mask |= np.uint64(keys[u] < near) << np.uint64(u)
    return rel_mask, near_mask


@nb.njit(cache=True)
def stable_argsort(keys):
    """Indices that sort float32 ``keys`` ascending, equal keys in their original order."""
    n = keys.size
    if n < _SMALL_SORT:
        return np.argsort(keys, kind="mergesort")
    # Map float bits to unsigned integers of the same order: flip negatives, set the sign bit;
    # -0.0 counts as +0.0, so equal distances of zero keep their database order.
    raw = keys.view(np.uint32)
    key = np.empty(n, np.uint32)
    counts = np.zeros((3, 2048), np.int64)
    for i in range(n):
        x = raw[i]
        if x == np.uint32(0x80000000):
            x = np.uint32(0)
        k = ~x if x >> 31 else x | np.uint32(0x80000000)
        key[i] = k
        counts[0, k & 2047] += 1
        counts[1, (k >> 11) & 2047] += 1
        counts[2, k >> 22] += 1
    order = np.arange(n)
    key_out = np.empty(n, np.uint32)
    order_out = np.empty(n, np.int64)
    for p in range(3):
        start = 0
        for b in range(2048):
            c = counts[p, b]
            counts[p, b] = start
            start += c
        shift = 11 * p
        for i in range(n):
            b = (key[i] >> shift) & 2047
            slot = counts[p, b]
            counts[p, b] = slot + 1
            key_out[slot] = key[i]
            order_out[slot] = order[i]
        key, key_out = key_out, key
        order, order_out = order_out, order
    return order


@nb.njit(inline="always")
def _score_ranked(a, ranked, query_labels, database_labels, multi_label, cutoffs, stats, hits):
    """Scores items ranked first to last; returns how many were relevant."""
    relrank = 0
    ap_sum = 0.0
    for r in range(ranked.size):
        if _relevant(query_labels, a, database_labels, ranked[r], multi_label):
            relrank += 1
            precision = relrank / (r + 1)
            ap_sum += precision
            if r < cutoffs[-1]:
                _add_top(stats, hits, a, r + 1, precision, cutoffs)
    stats[a, STATS_AP_SUM] += ap_sum
    return relrank


@nb.njit(parallel=True, cache=True)
def distance_scores(distances, query_labels, database_labels, multi_label, cutoffs, stats, hits):
    """Score the full ranking of each query by float ``distances`` (n_queries, n_database)."""
    for a in nb.prange(distances.shape[0]):
        ranked = stable_argsort(distances[a])
        stats[a, STATS_RELEVANT] = _score_ranked(
            a, ranked, query_labels, database_labels, multi_label, cutoffs, stats, hits
        )


@nb.njit(parallel=True, cache=True)
def pool_scores(
    pool_distances,
    pool_items,
    pool_offsets,
    query_labels,
    database_labels,
    multi_label,
    cutoffs,
    stats,
    hits,
):
    """Add each query's pool (database order), ranked first by ``pool_distances``, to its scores."""
    for a in nb.prange(pool_offsets.size - 1):
        start, stop = pool_offsets[a], pool_offsets[a + 1]
        ranked = pool_items[start:stop][stable_argsort(pool_distances[start:stop])]
        _score_ranked(a, ranked, query_labels, database_labels, multi_label, cutoffs, stats, hits)


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
        dot += value * _float32(row[d])
        dot_next += value * _float32(row_next[d])
    return dot, dot_next


@nb.njit(inline="always")
def _squared_norm(values):
    total = np.float32(0.0)
    for d in range(values.size):
        value = _float32(values[d])
        total += value * value
    return total


@nb.njit(parallel=True, cache=True)
def hamming_matrix(query_words, database_columns, out):
    """out[a, j] = Hamming distance between query a and database item j."""
    for a in nb.prange(query_words.shape[0]):
        row = np.empty(database_columns.shape[1], np.uint16)
        _distances(query_words, a, database_columns, 0, row)
        out[a] = row


_TILE_QUERIES = 16  # queries that share each block of the database while it is in cache
_BLOCK_ITEMS = 8192
_SPAN = 256  # items whose nearest is checked against the cut at once


@nb.njit(parallel=True, cache=True)
def hamming_top_k(query_words, database_columns, k, indices, distances):
    """The k nearest database items of each query by Hamming distance, ties by position.

    One pass. An item is kept only if it is nearer than the query's cut: the smallest distance
    with k kept items at it or nearer. So a query keeps at most k items a distance (the buffer's
    bound), and once the cut is low almost every span of items is passed over after a vectorised
    minimum. Queries go in tiles that share each database block while it is in cache.
    """
    n_query = query_words.shape[0]
    n_database = database_columns.shape[1]
    n_buckets = database_columns.shape[0] * 64 + 1
    capacity = k * n_buckets
    n_tiles = (n_query + _TILE_QUERIES - 1) // _TILE_QUERIES
    for tile in nb.prange(n_tiles):
        first = tile * _TILE_QUERIES
        size = min(_TILE_QUERIES, n_query - first)
        kept_items = np.empty((size, capacity), np.int64)
        kept_distances = np.empty((size, capacity), np.uint16)
        n_kept = np.zeros(size, np.int64)
        hist = np.zeros((size, n_buckets), np.int64)
        cut = np.full(size, n_buckets, np.int64)
        at_or_below = np.zeros(size, np.int64)  # kept items at the cut or nearer
        span = np.empty(_SPAN, np.uint16)
        for block in range(0, n_database, _BLOCK_ITEMS):
            block_end = min(block + _BLOCK_ITEMS, n_database)
            for q in range(size):
                for start in range(block, block_end, _SPAN):
                    row = span[: min(_SPAN, block_end - start)]
                    _distances(query_words, first + q, database_columns, start, row)
                    nearest = np.uint16(n_buckets)
                    for j in range(row.size):
                        nearest = min(nearest, row[j])
                    if nearest >= cut[q]:
                        continue
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
                kept_items[q, :n],
                kept_distances[q, :n],
                hist[q],
                k,
                indices[first + q],
                distances[first + q],
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
        _distances(query_words, a, database_columns, 0, row)
        c = 0
        for j in range(row.size):
            c += row[j] < threshold
        counts[a] = c


@nb.njit(parallel=True, cache=True)
def collect_within(query_words, database_columns, threshold, offsets, items):
    """The items at Hamming distance less than ``threshold`` of each query, in database order."""
    for a in nb.prange(query_words.shape[0]):
        row = np.empty(database_columns.shape[1], np.uint16)
        _distances(query_words, a, database_columns, 0, row)
        fill = offsets[a]
        for j in range(row.size):
            if row[j] < threshold:
                items[fill] = j
                fill += 1
