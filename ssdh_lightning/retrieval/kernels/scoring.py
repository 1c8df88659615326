"""Scores for the metrics: the two-pass Hamming scan (ranks by distance bucket, then the
relevant items and the HDS pool through bit masks), and scores of float rankings (ES, the
HDS pool) after a stable sort. See the package docstring for ``stats`` and ``hits``."""

from __future__ import annotations

import numba as nb
import numpy as np

from ssdh_lightning.retrieval.kernels.bits import (
    distances_into,
    lowest_bit,
)
from ssdh_lightning.retrieval.kernels.sorting import stable_argsort

STATS_AP_SUM, STATS_RELEVANT, STATS_CUTOFFS = 0, 1, 2  # then ap@cutoff sums, then counts


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
    distances_into(query_words, a, database_columns, 0, keys)
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
                    j = first + lowest_bit(rel_mask)
                    rel_mask &= rel_mask - np.uint64(1)
                    v = keys[j] >> 1
                    rank[n_rel] = offset[v] + place[j] + 1
                    bucket[n_rel] = v
                    ahead_rel[n_rel] = relevant[v]
                    relevant[v] += 1
                    n_rel += 1
                while near_mask:
                    j = first + lowest_bit(near_mask)
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
