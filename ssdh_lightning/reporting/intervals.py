"""Confidence intervals of a mean and of a difference of means (PROTOCOL.md, "Confidence
intervals"): Student's t over seeds, Welch's t over unpaired seeds, and the percentile bootstrap
over queries. Arrays in, numbers out; t quantiles from ``scipy.stats``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 10_000
MIN_RESAMPLES = 100  # fewer leave the 2.5% and 97.5% percentiles a handful of resamples each
BOOTSTRAP_SEED = 0
# Resamples drawn and summed at once: (block x queries) counts bound the memory (20 MB at
# 10,000 queries); the draws of block b follow those of block b - 1 from one generator.
RESAMPLE_BLOCK = 256


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def t_interval(values, confidence: float = CONFIDENCE) -> Interval:
    """The interval of the mean of ``values`` (n >= 2): mean +- t(n - 1) s / sqrt(n), with s the
    sample standard deviation and t(n - 1) Student's quantile at (1 + confidence) / 2. Over seeds
    paired by seed number, ``values`` are the per-seed differences of the two rows."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        raise ValueError(f"Student's t needs at least 2 values, got {len(values)}")
    half = _quantile(confidence, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return Interval(float(values.mean() - half), float(values.mean() + half))


def welch_interval(a, b, confidence: float = CONFIDENCE) -> Interval:
    """The interval of mean(a) - mean(b) for unpaired samples of at least 2 each, of unequal
    variances (Welch): the difference +- t(df) sqrt(va / na + vb / nb), df by Welch and
    Satterthwaite."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"Welch's t needs at least 2 values a side, got {len(a)} and {len(b)}")
    share_a, share_b = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    difference = float(a.mean() - b.mean())
    if share_a + share_b == 0:  # no spread on either side: the difference is all there is
        return Interval(difference, difference)
    df = (share_a + share_b) ** 2 / (share_a**2 / (len(a) - 1) + share_b**2 / (len(b) - 1))
    half = _quantile(confidence, df) * float(np.sqrt(share_a + share_b))
    return Interval(difference - half, difference + half)


def _quantile(confidence: float, df: float) -> float:
    return float(stats.t.ppf((1 + confidence) / 2, df))


def resampled_means(values, resamples: int = DEFAULT_RESAMPLES, seed: int = BOOTSTRAP_SEED):
    """The mean of each column of ``values`` (queries x columns) in each of ``resamples``
    resamples of its rows drawn with replacement: (resamples x columns).

    The draws depend on the number of rows, ``resamples`` and ``seed`` only: columns passed
    together, or in calls with the same three, see the same resamples, so the difference of
    two columns' resampled means is a paired bootstrap (rows are queries in one order)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or len(values) == 0:
        raise ValueError(f"values must be (queries, columns) with queries > 0, got {values.shape}")
    check_resamples(resamples)
    n = len(values)
    rng = np.random.default_rng(seed)
    means = np.empty((resamples, values.shape[1]))
    for start in range(0, resamples, RESAMPLE_BLOCK):
        size = min(RESAMPLE_BLOCK, resamples - start)
        picks = rng.integers(0, n, size=(size, n))
        # how often each row was drawn in each resample: a resample's mean is one dot product
        flat = (picks + n * np.arange(size)[:, None]).ravel()
        counts = np.bincount(flat, minlength=size * n).reshape(size, n).astype(np.float64)
        means[start : start + size] = counts @ values / n
    return means


def percentile_interval(resampled, confidence: float = CONFIDENCE) -> Interval:
    """The percentile bootstrap interval: the (1 - confidence) / 2 and (1 + confidence) / 2
    quantiles of a statistic over its resamples."""
    tail = (1 - confidence) / 2
    low, high = np.quantile(np.asarray(resampled, dtype=np.float64), [tail, 1 - tail])
    return Interval(float(low), float(high))


def check_resamples(resamples: int) -> int:
    if isinstance(resamples, bool) or not isinstance(resamples, int | np.integer):
        raise ValueError(f"resamples must be an integer, got {resamples!r}")
    if resamples < MIN_RESAMPLES:
        raise ValueError(
            f"resamples={resamples}: a 95% percentile interval needs at least {MIN_RESAMPLES} "
            f"resamples ({DEFAULT_RESAMPLES} by default)"
        )
    return int(resamples)
