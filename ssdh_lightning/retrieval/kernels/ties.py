"""Figures of a Hamming ranking over the orders inside its ties, from the counts per distance.

A query's ranking by Hamming distance is a sequence of buckets (one per distance); bucket v holds
``hist[a, v]`` items of which ``hist_rel[a, v]`` are relevant, in an order the distance does not
fix. For a cut-off k the buckets before the one that k cuts through (the cut bucket) are whole in
the top k, and m = k - (items before) of the cut bucket are.

With N items and R relevant ones before a bucket, the relevant item with relevant rank R + j at
place p of the bucket scores (R + j) / (N + p). Over uniformly random orders within each bucket
(McSherry and Najork, ECIR 2008):

- a whole bucket of n items, r relevant: each place is relevant with probability r / n, and the
  relevant items before a relevant place p number (p - 1)(r - 1)/(n - 1) on average, so its
  expected sum is (r/n) [(R + 1) D + (r - 1)/(n - 1) (n - (N + 1) D)], D = H(N + n) - H(N),
  H the harmonic numbers;
- the cut bucket holds X relevant items in its first m places, X hypergeometric (m draws from n,
  r of them relevant). AP@k divides by R_k = R + X, which is random: the expectation is taken over
  X exactly (sum over its values, weighted by its probabilities), each term the sum above with m
  places and X relevant, over R + X. The buckets before are independent of X.

The extremes over orders: in whole buckets relevant-first (last) is the best (worst), since R_k is
fixed there; in the cut bucket, for each X its relevant items first (last) among the m places,
and the best (worst) over every possible X, since with R_k in the denominator more relevant items
in the top k can lower AP@k.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(inline="always")
def _expected_sum(before, before_rel, places, relevant, harmonic):
    """Expected sum of precisions of ``relevant`` items at random among the first ``places``."""
    d = harmonic[before + places] - harmonic[before]
    spread = 0.0
    if places > 1:
        spread = (relevant - 1) / (places - 1) * (places - (before + 1) * d)
    return relevant / places * ((before_rel + 1) * d + spread)


@nb.njit(inline="always")
def _first_sum(before, before_rel, relevant, harmonic):
    """Sum of precisions of ``relevant`` items at the first places: (R + j) / (N + j)."""
    return relevant + (before_rel - before) * (harmonic[before + relevant] - harmonic[before])


@nb.njit(inline="always")
def _last_sum(before, before_rel, places, relevant, harmonic):
    """Sum of precisions of ``relevant`` items at the last of ``places`` places."""
    end = before + places
    return relevant + (before_rel - end + relevant) * (harmonic[end] - harmonic[end - relevant])


@nb.njit(inline="always")
def _ratio(total, found):
    return total / found if found > 0 else 0.0


@nb.njit(inline="always")
def _cut_bucket(sums, before, before_rel, n, r, m, harmonic):
    """(expected, best, worst) AP@k given the buckets' before sums (expected, best, worst)."""
    expected_before, best_before, worst_before = sums
    low, high = max(0, m - (n - r)), min(m, r)
    best, worst = -1.0, 2.0
    for x in range(low, high + 1):
        found = before_rel + x
        best = max(best, _ratio(best_before + _first_sum(before, before_rel, x, harmonic), found))
        last = _last_sum(before, before_rel, m, x, harmonic)
        worst = min(worst, _ratio(worst_before + last, found))
    # P(X = x) up to a constant, by its ratios from the mode down and up (no overflow, and the
    # tails that underflow weigh nothing)
    mode = min(max((m + 1) * (r + 1) // (n + 2), low), high)
    total = 0.0
    weighted = 0.0
    weight = 1.0
    for x in range(mode, high + 1):
        if x > mode:
            weight *= (r - x + 1) * (m - x + 1) / (x * (n - r - m + x))
        cut = _expected_sum(before, before_rel, m, x, harmonic)
        total += weight
        weighted += weight * _ratio(expected_before + cut, before_rel + x)
    weight = 1.0
    for x in range(mode - 1, low - 1, -1):
        weight *= (x + 1) * (n - r - m + x + 1) / ((r - x) * (m - x))
        cut = _expected_sum(before, before_rel, m, x, harmonic)
        total += weight
        weighted += weight * _ratio(expected_before + cut, before_rel + x)
    return weighted / total, best, worst


@nb.njit(parallel=True, cache=True)
def tie_scores(hist, hist_rel, cutoffs, harmonic, expected_ap, best_ap, worst_ap, precision):
    """Per query a and cut-off ``cutoffs[t]`` (at most the database size): the expected AP@k
    over orders within ties, its best and worst, and the expected precision@k, written to
    ``[a, t]`` of the four outputs. ``harmonic[i]`` = 1 + 1/2 + ... + 1/i, up to the database
    size."""
    for a in nb.prange(hist.shape[0]):
        for t in range(cutoffs.size):
            k = cutoffs[t]
            before = 0
            before_rel = 0
            expected_before = best_before = worst_before = 0.0
            v = 0
            while before + hist[a, v] < k:
                n, r = hist[a, v], hist_rel[a, v]
                if r > 0:
                    expected_before += _expected_sum(before, before_rel, n, r, harmonic)
                    best_before += _first_sum(before, before_rel, r, harmonic)
                    worst_before += _last_sum(before, before_rel, n, r, harmonic)
                before += n
                before_rel += r
                v += 1
            n, r, m = hist[a, v], hist_rel[a, v], k - before
            precision[a, t] = (before_rel + m * r / n) / k
            sums = (expected_before, best_before, worst_before)
            expected_ap[a, t], best_ap[a, t], worst_ap[a, t] = _cut_bucket(
                sums, before, before_rel, n, r, m, harmonic
            )


def harmonic_numbers(n: int) -> np.ndarray:
    """H(0..n): H(i) = 1 + 1/2 + ... + 1/i."""
    return np.concatenate(([0.0], np.cumsum(1.0 / np.arange(1, n + 1))))
