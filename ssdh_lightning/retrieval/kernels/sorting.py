"""A stable sort of float keys: LSD radix, a merge sort below ``_SMALL_SORT`` keys."""

from __future__ import annotations

import numba as nb
import numpy as np

_SMALL_SORT = 100  # below this, a merge sort beats the radix sort's fixed cost


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
