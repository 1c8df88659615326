"""Compiled inner loops of the engine (numba), parallel over the queries of a chunk.

Every ranking here is stable: ties go to the lower database position, as PROTOCOL.md requires.
Hamming rankings are never sorted: distances are small integers, so the rank of an item is the
number of items in lower distance buckets plus its place in its own bucket, counted in one pass
in database order. Float rankings use a stable LSD radix sort.

The functions take prepared arrays (see codes.py and arrays.py) and write into outputs that the
caller allocates, so that the caller owns the memory budget.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import types
from numba.extending import intrinsic

_SMALL_SORT = 1024  # below this, a merge sort beats the radix sort's fixed cost


@intrinsic
def _popcount(typingctx, word):
    """The hardware population count of a uint64 (llvm.ctpop)."""
    if word != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@nb.njit(inline="always")
def _distance(query_words, a, database_words, j):
    d = 0
    for w in range(query_words.shape[1]):
        d += _popcount(query_words[a, w] ^ database_words[j, w])
    return d


@nb.njit(inline="always")
def _relevant(query_labels, a, database_labels, j, multi_label):
    if multi_label:
        for w in range(query_labels.shape[1]):  # noqa: SIM110 - a loop numba compiles tightly
            if query_labels[a, w] & database_labels[j, w]:
                return True
        return False
    return query_labels[a, 0] == database_labels[j, 0]


@nb.njit(parallel=True, cache=True)
def hamming_matrix(query_words, database_words, out):
    """out[a, j] = Hamming distance between query a and database item j."""
    for a in nb.prange(query_words.shape[0]):
        for j in range(database_words.shape[0]):
            out[a, j] = _distance(query_words, a, database_words, j)


@nb.njit(parallel=True, cache=True)
def hamming_histograms(distances, query_labels, database_labels, multi_label, hist, hist_rel):
    """Per query: how many database items, and how many relevant ones, lie at each distance."""
    for a in nb.prange(distances.shape[0]):
        for j in range(distances.shape[1]):
            d = distances[a, j]
            hist[a, d] += 1
            if _relevant(query_labels, a, database_labels, j, multi_label):
                hist_rel[a, d] += 1


@nb.njit(parallel=True, cache=True)
def hamming_ranks(
    distances,
    query_labels,
    database_labels,
    multi_label,
    hist,
    hist_rel,
    pool_sizes,
    pool_offsets,
    pool_items,
    hits,
    ap_inside,
    ap_outside,
):
    """Score the Hamming ranking of each query in one pass over the database.

    Every relevant item at rank r sets ``hits[a, r - 1]`` (while r <= hits.shape[1]) and adds
    relrank/r to ``ap_inside[a]`` if r is within ``pool_sizes[a]``, else to ``ap_outside[a]``.
    The pool (the HDS candidates, a prefix of the Hamming ranking) is also written to
    ``pool_items`` in database order.
    """
    n_buckets = hist.shape[1]
    top = hits.shape[1]
    for a in nb.prange(distances.shape[0]):
        seen = np.empty(n_buckets, np.int64)
        seen_rel = np.empty(n_buckets, np.int64)
        before = 0
        before_rel = 0
        for v in range(n_buckets):
            seen[v] = before
            seen_rel[v] = before_rel
            before += hist[a, v]
            before_rel += hist_rel[a, v]
        pool = pool_sizes[a]
        fill = pool_offsets[a]
        inside = 0.0
        outside = 0.0
        for j in range(distances.shape[1]):
            d = distances[a, j]
            rank = seen[d] + 1
            seen[d] = rank
            if rank <= pool:
                pool_items[fill] = j
                fill += 1
            if _relevant(query_labels, a, database_labels, j, multi_label):
                relrank = seen_rel[d] + 1
                seen_rel[d] = relrank
                if rank <= pool:
                    inside += relrank / rank
                else:
                    outside += relrank / rank
                if rank <= top:
                    hits[a, rank - 1] = 1
        ap_inside[a] = inside
        ap_outside[a] = outside


@nb.njit(cache=True)
def stable_argsort(keys):
    """Indices that sort float32 ``keys`` ascending, equal keys in their original order."""
    n = keys.size
    if n < _SMALL_SORT:
        return np.argsort(keys, kind="mergesort")
    # Map float bits to unsigned integers of the same order: flip negatives, set the sign bit.
    raw = keys.view(np.uint32)
    key = np.empty(n, np.uint32)
    counts = np.zeros((3, 2048), np.int64)
    for i in range(n):
        x = raw[i]
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
def _score_sorted(a, order, items, query_labels, database_labels, multi_label, hits, start_rank):
    """Scores a ranked list of ``items[order]`` placed from rank ``start_rank`` + 1 on."""
    top = hits.shape[1]
    relrank = 0
    total = 0.0
    for r in range(order.size):
        j = items[order[r]]
        if _relevant(query_labels, a, database_labels, j, multi_label):
            relrank += 1
            rank = start_rank + r + 1
            total += relrank / rank
            if rank <= top:
                hits[a, rank - 1] = 1
    return total, relrank


@nb.njit(parallel=True, cache=True)
def distance_ranks(distances, query_labels, database_labels, multi_label, hits, ap_sum, n_rel):
    """Score the full ranking of each query by float ``distances`` (n_queries, n_database)."""
    items = np.arange(distances.shape[1])
    for a in nb.prange(distances.shape[0]):
        order = stable_argsort(distances[a])
        ap_sum[a], n_rel[a] = _score_sorted(
            a, order, items, query_labels, database_labels, multi_label, hits, 0
        )


@nb.njit(parallel=True, cache=True)
def pool_ranks(
    pool_distances,
    pool_items,
    pool_offsets,
    query_labels,
    database_labels,
    multi_label,
    hits,
    ap_sum,
):
    """Score each query's pool (items in database order) ranked by float ``pool_distances``."""
    for a in nb.prange(pool_offsets.size - 1):
        start, stop = pool_offsets[a], pool_offsets[a + 1]
        order = stable_argsort(pool_distances[start:stop])
        ap_sum[a], _ = _score_sorted(
            a, order, pool_items[start:stop], query_labels, database_labels, multi_label, hits, 0
        )


@nb.njit(parallel=True, cache=True)
def hamming_top_k(query_words, database_words, k, indices, distances):
    """The k nearest database items of each query by Hamming distance, ties by position.

    Two passes over the database: a histogram of distances fixes the cut-off distance, then the
    items before it are counted straight into their sorted slots.
    """
    n_database = database_words.shape[0]
    n_buckets = query_words.shape[1] * 64 + 1
    for a in nb.prange(query_words.shape[0]):
        hist = np.zeros(n_buckets, np.int64)
        for j in range(n_database):
            hist[_distance(query_words, a, database_words, j)] += 1
        slot = np.empty(n_buckets, np.int64)
        before = 0
        cut = n_buckets - 1
        for v in range(n_buckets):
            slot[v] = before
            if before + hist[v] >= k:
                cut = v
                break
            before += hist[v]
        for j in range(n_database):
            d = _distance(query_words, a, database_words, j)
            if d <= cut and slot[d] < k:
                indices[a, slot[d]] = j
                distances[a, slot[d]] = d
                slot[d] += 1


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
def count_within(query_words, database_words, threshold, counts):
    """counts[a] = how many database items lie at Hamming distance less than ``threshold``."""
    for a in nb.prange(query_words.shape[0]):
        c = 0
        for j in range(database_words.shape[0]):
            c += _distance(query_words, a, database_words, j) < threshold
        counts[a] = c


@nb.njit(parallel=True, cache=True)
def collect_within(query_words, database_words, threshold, offsets, items):
    """The items at Hamming distance less than ``threshold`` of each query, in database order."""
    for a in nb.prange(query_words.shape[0]):
        fill = offsets[a]
        for j in range(database_words.shape[0]):
            if _distance(query_words, a, database_words, j) < threshold:
                items[fill] = j
                fill += 1
