"""Is row A really better than row B? The difference of one figure between two rows, its
confidence interval and how it was computed, beside the range the orders inside ties allow
(PROTOCOL.md, "Confidence intervals").

The interval follows what the runs hold:
- the rows have runs of at least two seeds in common: Student's t over the per-seed differences
  (seeds paired by seed number), from each run's mean (``metrics.json``);
- else each row has at least two runs: Welch's t over the two rows' runs (unpaired);
- else the rows share one seed: a paired bootstrap over the queries of their two runs of that
  seed (each run's ``per_query.npz``; the same resamples for both rows), seeded;
- else there is no interval, and the comparison says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssdh_lightning import metric_names
from ssdh_lightning.reporting.intervals import (
    BOOTSTRAP_SEED,
    CONFIDENCE,
    DEFAULT_RESAMPLES,
    Interval,
    check_resamples,
    percentile_interval,
    resampled_means,
    t_interval,
    welch_interval,
)
from ssdh_lightning.reporting.runs import Run, distinguish, read_run
from ssdh_lightning.run_files import PER_QUERY_FILE

PAIRED_T, WELCH_T, BOOTSTRAP = "t", "welch", "bootstrap"
# the verdicts: the interval excludes 0 (and the tie range does too), it contains 0, or it
# excludes 0 while some order inside ties would erase the difference
DISTINGUISHABLE, NOT_DISTINGUISHABLE, TIE_BREAKING, NO_INTERVAL = (
    "distinguishable",
    "not distinguishable",
    "tie-breaking",
    "no interval",
)


@dataclass(frozen=True)
class Side:
    """One row of a set of runs: the runs (its seeds) and the key of the figure compared,
    as metrics.json spells it (``bcs/map@all``, ``lsh/map@1000``)."""

    runs: tuple[Run, ...]
    key: str

    @property
    def scored(self) -> list[Run]:
        """The runs with a number for the figure (NaN: nothing was scored)."""
        return [r for r in self.runs if np.isfinite(r.metrics.get(self.key, np.nan))]

    @property
    def name(self) -> str:
        """``lin2015/bcs``, ``dsh (authors)/bcs``: what trained it and the row, as ``--against``
        names it."""
        methods = sorted({run.training for run in self.runs})
        return f"{'+'.join(methods)}/{self.key.partition('/')[0]}"

    @property
    def figure(self) -> str:
        return self.key.partition("/")[2]


@dataclass(frozen=True)
class Comparison:
    """``difference``: the mean of row a minus that of row b, over the seeds or the queries the
    interval is computed on (``kind``: ``t``, ``welch`` or ``bootstrap``; ``how`` says it in
    words, ``count`` is the seeds, runs or queries). ``tie_range``: the difference's range over
    the orders inside ties of Hamming distance (None where neither row ranks by Hamming
    distance or records it). Without an interval, ``reason`` says why."""

    difference: float
    interval: Interval | None
    kind: str
    how: str
    count: int
    tie_range: Interval | None
    resamples: int | None = None
    reason: str = ""

    @property
    def distinguishable(self) -> bool | None:
        """Whether the interval excludes 0; None without an interval."""
        return None if self.interval is None else not self.interval.contains(0.0)

    @property
    def within_ties(self) -> bool:
        """Whether some order inside ties would erase the difference (or reverse it)."""
        return self.tie_range is not None and self.tie_range.contains(0.0)

    @property
    def verdict(self) -> str:
        if self.interval is None:
            return NO_INTERVAL
        if self.interval.contains(0.0):
            return NOT_DISTINGUISHABLE
        return TIE_BREAKING if self.within_ties else DISTINGUISHABLE


class QueryBootstrap:
    """The paired bootstrap over queries: each run's resampled means of its per-query figures,
    computed once per run (for ``figures``, or the figure asked for), in the order of the sorted
    query ids, so that two runs of the same queries share their resamples."""

    def __init__(
        self,
        resamples: int = DEFAULT_RESAMPLES,
        seed: int = BOOTSTRAP_SEED,
        confidence: float = CONFIDENCE,
        figures: Iterable[str] | None = None,
    ) -> None:
        self.resamples = check_resamples(resamples)
        self.seed = seed
        self.confidence = confidence
        self.figures = None if figures is None else set(figures)
        self._means: dict[tuple[Path, str], np.ndarray] = {}

    def means(self, run: Run, key: str) -> np.ndarray:
        """The resampled means (resamples,) of the figure ``key`` of ``run``."""
        if (run.folder, key) not in self._means:
            figures = run.per_query.figures
            keys = [key] + [
                k
                for k in figures
                if k != key and self.figures is not None and k.partition("/")[2] in self.figures
            ]
            order = np.argsort(run.per_query.query_ids, kind="stable")
            columns = np.stack([figures[k][order] for k in keys], axis=1)
            means = resampled_means(columns, self.resamples, self.seed)
            self._means |= {(run.folder, k): means[:, i] for i, k in enumerate(keys)}
        return self._means[(run.folder, key)]

    def row_interval(self, run: Run, key: str) -> Interval:
        """The interval of one run's mean of ``key`` over its queries."""
        return percentile_interval(self.means(run, key), self.confidence)


def _by_seed(runs: list[Run]) -> dict[int, Run] | None:
    """The runs by seed; None when a seed has more than one run (no pairing by seed)."""
    by_seed = {run.seed: run for run in runs}
    return by_seed if len(by_seed) == len(runs) else None


def _mean(runs: Sequence[Run], key: str) -> float:
    return float(np.mean([run.metrics[key] for run in runs]))


def _tie_bounds(side: Side, runs: Sequence[Run]) -> tuple[float, float] | None:
    """(worst, best) of the figure over the orders inside ties, mean over ``runs``; None when
    the runs do not record them (the row does not rank by Hamming distance)."""
    keys = [
        metric_names.tie_figure(side.key, f)
        for f in (metric_names.TIE_WORST, metric_names.TIE_BEST)
    ]
    if not all(key in run.metrics for run in runs for key in keys):
        return None
    return _mean(runs, keys[0]), _mean(runs, keys[1])


def tie_range(a: Side, runs_a: Sequence[Run], b: Side, runs_b: Sequence[Run]) -> Interval | None:
    """The range of the difference a - b over the orders inside ties: a's worst minus b's best
    to a's best minus b's worst; a row without ties counts as its mean."""
    bounds_a, bounds_b = _tie_bounds(a, runs_a), _tie_bounds(b, runs_b)
    if bounds_a is None and bounds_b is None:
        return None
    worst_a, best_a = bounds_a or (_mean(runs_a, a.key),) * 2
    worst_b, best_b = bounds_b or (_mean(runs_b, b.key),) * 2
    return Interval(worst_a - best_b, best_a - worst_b)


def _seeds(seeds: Iterable[int]) -> str:
    return ", ".join(map(str, sorted(seeds)))


def compare_sides(a: Side, b: Side, bootstrap: QueryBootstrap) -> Comparison:
    """Row a minus row b, by the interval their runs allow (see the module's docstring)."""
    runs_a, runs_b = a.scored, b.scored
    for side, runs in ((a, runs_a), (b, runs_b)):
        if not runs:
            raise ValueError(f"no run of {side.name} has a number for {side.key}")
    seeds_a, seeds_b = _by_seed(runs_a), _by_seed(runs_b)
    common = sorted(set(seeds_a) & set(seeds_b)) if seeds_a and seeds_b else []
    confidence = bootstrap.confidence
    if len(common) >= 2:
        paired_a, paired_b = [seeds_a[s] for s in common], [seeds_b[s] for s in common]
        differences = [
            x.metrics[a.key] - y.metrics[b.key] for x, y in zip(paired_a, paired_b, strict=True)
        ]
        return Comparison(
            float(np.mean(differences)),
            t_interval(differences, confidence),
            PAIRED_T,
            f"Student's t over {len(common)} seeds paired by seed number ({_seeds(common)})",
            len(common),
            tie_range(a, paired_a, b, paired_b),
        )
    if len(runs_a) >= 2 and len(runs_b) >= 2:
        values_a = [run.metrics[a.key] for run in runs_a]
        values_b = [run.metrics[b.key] for run in runs_b]
        return Comparison(
            float(np.mean(values_a) - np.mean(values_b)),
            welch_interval(values_a, values_b, confidence),
            WELCH_T,
            f"Welch's t over unpaired runs (seeds {_seeds(r.seed for r in runs_a)} and "
            f"{_seeds(r.seed for r in runs_b)})",
            len(runs_a) + len(runs_b),
            tie_range(a, runs_a, b, runs_b),
        )
    if not common:
        reason = (
            f"no seed in common (seeds {_seeds(r.seed for r in runs_a)} and "
            f"{_seeds(r.seed for r in runs_b)}) and not two runs on each side"
        )
        return _without_interval(a, runs_a, b, runs_b, reason)
    return _bootstrap(a, seeds_a[common[0]], b, seeds_b[common[0]], bootstrap)


def _without_interval(a, runs_a, b, runs_b, reason: str) -> Comparison:
    difference = _mean(runs_a, a.key) - _mean(runs_b, b.key)
    return Comparison(difference, None, "", "", 0, tie_range(a, runs_a, b, runs_b), None, reason)


def missing_per_query(run: Run, key: str) -> str:
    """Why ``run`` cannot take part in a bootstrap over queries of ``key``; "" when it can."""
    if run.per_query is None:
        return f"{run.folder} has no {PER_QUERY_FILE} (a run written before runs kept them)"
    if key not in run.per_query.figures:
        return f"{run.folder / PER_QUERY_FILE} has no figure {key}"
    return ""


def _bootstrap(a: Side, run_a: Run, b: Side, run_b: Run, bootstrap: QueryBootstrap) -> Comparison:
    """The paired bootstrap over the queries of two runs of one seed."""
    reason = missing_per_query(run_a, a.key) or missing_per_query(run_b, b.key)
    if not reason:
        ids_a, ids_b = (np.sort(r.per_query.query_ids) for r in (run_a, run_b))
        if not np.array_equal(ids_a, ids_b):
            only = len(np.setxor1d(ids_a, ids_b))
            reason = (
                f"the runs' queries differ ({only} query ids in one run only): not the same data "
                "set and protocol, so no query-by-query pairing"
            )
    if reason:
        return _without_interval(a, [run_a], b, [run_b], reason)
    means_a, means_b = bootstrap.means(run_a, a.key), bootstrap.means(run_b, b.key)
    values_a = run_a.per_query.figures[a.key].astype(np.float64)
    values_b = run_b.per_query.figures[b.key].astype(np.float64)
    return Comparison(
        float(values_a.mean() - values_b.mean()),
        percentile_interval(means_a - means_b, bootstrap.confidence),
        BOOTSTRAP,
        f"paired bootstrap over {len(ids_a)} queries of seed {run_a.seed}, "
        f"{bootstrap.resamples} resamples (seed {bootstrap.seed})",
        len(ids_a),
        tie_range(a, [run_a], b, [run_b]),
        bootstrap.resamples,
    )


def _runs(runs: Run | str | Path | Iterable[Run | str | Path], side: str) -> tuple[Run, ...]:
    if isinstance(runs, Run | str | Path):
        runs = [runs]
    loaded = tuple(run if isinstance(run, Run) else read_run(Path(run)) for run in runs)
    if not loaded:
        raise ValueError(f"{side} holds no run")
    return loaded


def _check_row(side: str, runs: list[Run]) -> None:
    kinds = {(run.data, run.hash_bits, run.training) for run in runs}
    if len(kinds) > 1:
        raise ValueError(
            f"the runs of {side} must be seeds of one row, of one data set, hash_bits and "
            f"training method; got {sorted(kinds)}"
        )


def compare(
    a: Run | str | Path | Iterable[Run | str | Path],
    b: Run | str | Path | Iterable[Run | str | Path],
    key: str,
    key_b: str | None = None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> Comparison:
    """The figure ``key`` (e.g. ``bcs/map@all``) of the runs ``a`` minus ``key_b`` (default
    ``key``, e.g. ``lsh/map@all`` to compare two rows of one run) of the runs ``b``, with its
    interval at ``confidence`` and how it was computed.

    ``a`` and ``b`` are run folders (or ``Run``s read by ``ssdh_lightning.reporting.runs``), one
    each or the seeds of one row; both of one data set. ``resamples`` and ``seed`` set the
    bootstrap over queries, used where the rows share one seed only."""
    runs_a, runs_b = _runs(a, "a"), _runs(b, "b")
    # named apart together, so that a and b of two protocols are two data sets
    named = distinguish([*runs_a, *runs_b])
    runs_a, runs_b = named[: len(runs_a)], named[len(runs_a) :]
    _check_row("a", runs_a)
    _check_row("b", runs_b)
    if runs_a[0].data != runs_b[0].data:
        raise ValueError(
            f"a holds runs of {runs_a[0].data!r} and b of {runs_b[0].data!r}: rows compare "
            "within one data set"
        )
    bootstrap = QueryBootstrap(resamples, seed, confidence)
    return compare_sides(Side(runs_a, key), Side(runs_b, key_b or key), bootstrap)
