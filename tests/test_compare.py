"""Which differences are real: the interval of a difference between two rows, checked against
scipy's t intervals, a direct bootstrap written here, and its coverage over simulated draws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from helpers import write_run
from ssdh_lightning.reporting.compare import (
    BOOTSTRAP,
    DISTINGUISHABLE,
    NO_INTERVAL,
    NOT_DISTINGUISHABLE,
    PAIRED_T,
    TIE_BREAKING,
    WELCH_T,
    compare,
)
from ssdh_lightning.reporting.intervals import (
    RESAMPLE_BLOCK,
    percentile_interval,
    resampled_means,
    t_interval,
    welch_interval,
)
from ssdh_lightning.reporting.runs import read_run


def test_t_intervals_are_scipys():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.8, 0.02, 5), rng.normal(0.78, 0.03, 5)
    paired = t_interval(a - b)
    expected = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (paired.low, paired.high) == pytest.approx((expected.low, expected.high))
    welch = welch_interval(a, b[:3])
    expected = stats.ttest_ind(a, b[:3], equal_var=False).confidence_interval(0.95)
    assert (welch.low, welch.high) == pytest.approx((expected.low, expected.high))
    flat = t_interval([0.1, 0.1, 0.1])  # no spread: the mean alone
    assert (flat.low, flat.high) == pytest.approx((0.1, 0.1))
    with pytest.raises(ValueError, match="at least 2 values"):
        t_interval([0.5])


def direct_bootstrap(x, y, resamples: int, seed: int) -> tuple[float, float]:
    """The paired percentile bootstrap by its definition: resample the queries with replacement
    (the same resample for both rows), take the difference of the two means, and read its 2.5%
    and 97.5% quantiles. The draws are those the engine documents: blocks of RESAMPLE_BLOCK
    resamples of n picks each, from one generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    differences = []
    for start in range(0, resamples, RESAMPLE_BLOCK):
        for picks in rng.integers(0, len(x), size=(min(RESAMPLE_BLOCK, resamples - start), len(x))):
            differences.append(x[picks].mean() - y[picks].mean())
    low, high = np.quantile(differences, [0.025, 0.975])
    return low, high


def per_query_run(folder, seed, values, **options):
    return write_run(folder, seed=seed, per_query={"bcs/map@all": values}, **options)


def test_the_bootstrap_is_the_direct_one_on_a_small_case(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random(7).astype(np.float32)
    y = np.clip(x - 0.1 + rng.normal(0, 0.1, 7), 0, 1).astype(np.float32)
    ids = np.array([40, 3, 17, 8, 25, 11, 30])
    a = per_query_run(tmp_path / "a", 0, x, query_ids=ids)
    order = np.argsort(ids)[::-1]  # the other run lists its queries in another order
    b = per_query_run(tmp_path / "b", 0, y[order], query_ids=ids[order])
    comparison = compare(a, b, "bcs/map@all", resamples=300, seed=5)
    assert comparison.kind == BOOTSTRAP and comparison.count == 7 and comparison.resamples == 300
    sorted_x, sorted_y = x[np.argsort(ids)].astype(np.float64), y[np.argsort(ids)]
    low, high = direct_bootstrap(sorted_x, sorted_y.astype(np.float64), 300, seed=5)
    assert (comparison.interval.low, comparison.interval.high) == pytest.approx((low, high))
    assert comparison.difference == pytest.approx(float(np.mean(x, dtype=np.float64) - np.mean(y)))
    assert "paired bootstrap over 7 queries of seed 0, 300 resamples" in comparison.how


def test_the_bootstrap_agrees_with_scipys_paired_percentile_bootstrap():
    rng = np.random.default_rng(2)
    x = rng.beta(2, 2, 80)
    y = np.clip(x - 0.05 + rng.normal(0, 0.1, 80), 0, 1)
    ours = percentile_interval(np.diff(resampled_means(np.stack([y, x], 1), 20_000), axis=1)[:, 0])
    theirs = stats.bootstrap(
        (x, y),
        lambda a, b, axis: a.mean(axis) - b.mean(axis),
        paired=True,
        vectorized=True,
        n_resamples=20_000,
        method="percentile",
        rng=np.random.default_rng(3),
    ).confidence_interval
    width = theirs.high - theirs.low
    assert ours.low == pytest.approx(theirs.low, abs=0.05 * width)
    assert ours.high == pytest.approx(theirs.high, abs=0.05 * width)


def test_the_bootstraps_95_percent_intervals_cover_the_true_difference():
    """Per-query scores drawn with a known difference of the rows' means (0.03), the queries'
    difficulty shared by both rows: over 1,000 seeded draws of 200 queries, the intervals hold
    the true difference 93-97% of the time."""
    rng = np.random.default_rng(4)
    true_difference, covered = 0.03, 0
    for draw in range(1000):
        difficulty = rng.beta(5, 2, 200)  # skewed towards 1, as APs are
        x = difficulty + true_difference + rng.normal(0, 0.1, 200)
        y = difficulty + rng.exponential(0.1, 200) - 0.1  # another noise, of mean 0
        means = resampled_means(np.stack([x, y], axis=1), 1000, seed=draw)
        covered += percentile_interval(means[:, 0] - means[:, 1]).contains(true_difference)
    assert 0.93 <= covered / 1000 <= 0.97, covered


def test_the_t_intervals_over_seeds_cover_the_true_difference():
    """Run means of 5 seeds, a seed's effect shared by both rows (paired) or not (Welch)."""
    rng = np.random.default_rng(5)
    true_difference, paired, unpaired = 0.01, 0, 0
    for _ in range(4000):
        seed_effect = rng.normal(0, 0.02, 5)
        a = 0.9 + true_difference + seed_effect + rng.normal(0, 0.004, 5)
        b = 0.9 + seed_effect + rng.normal(0, 0.004, 5)
        paired += t_interval(a - b).contains(true_difference)
        c = 0.9 + rng.normal(0, 0.02, 4)
        unpaired += welch_interval(a, c).contains(true_difference)
    assert 0.93 <= paired / 4000 <= 0.97 and 0.93 <= unpaired / 4000 <= 0.97, (paired, unpaired)


def test_a_row_against_itself_is_not_distinguishable(tmp_path):
    rng = np.random.default_rng(6)
    seeds = [per_query_run(tmp_path / f"s{s}", s, rng.random(50)) for s in range(3)]
    for runs, kind in ((seeds[0], BOOTSTRAP), (seeds, PAIRED_T)):
        comparison = compare(runs, runs, "bcs/map@all")
        assert comparison.kind == kind and comparison.difference == 0
        assert comparison.interval.contains(0.0)
        assert comparison.distinguishable is False
        assert comparison.verdict == NOT_DISTINGUISHABLE


def test_a_real_run_against_itself(trained_run):
    comparison = compare(trained_run, trained_run, "bcs/map@all")
    queries = len(read_run(trained_run).per_query.query_ids)
    assert comparison.kind == BOOTSTRAP and comparison.count == queries == 359
    assert comparison.difference == 0 and comparison.interval.contains(0.0)
    assert comparison.verdict == NOT_DISTINGUISHABLE
    # two rows of the one run: BCS against LSH on the same queries
    rows = compare(trained_run, trained_run, "bcs/map@all", "lsh/map@all")
    run = read_run(trained_run)
    expected = run.metrics["bcs/map@all"] - run.metrics["lsh/map@all"]
    assert rows.difference == pytest.approx(expected, abs=1e-6)
    assert rows.interval.low <= rows.difference <= rows.interval.high


def seeded_rows(tmp_path, seeds_a, seeds_b, shift=0.05):
    """Runs of rows a and b over 40 queries, b below a by ``shift`` on every query, give or take
    a little per seed."""
    rng = np.random.default_rng(7)
    base, a, b = rng.random(40), [], []
    for seed in sorted(set(seeds_a) | set(seeds_b)):
        if seed in seeds_a:
            values = base + rng.normal(0, 0.01, 40)
            a.append(per_query_run(tmp_path / f"a{seed}", seed, values))
        if seed in seeds_b:
            values = base - shift + rng.normal(0, 0.01, 40)
            b.append(per_query_run(tmp_path / f"b{seed}", seed, values))
    return a, b


@pytest.mark.parametrize(
    ("seeds_a", "seeds_b", "kind", "count", "how"),
    [
        ((0, 1, 2), (0, 1, 2, 3), PAIRED_T, 3, "Student's t over 3 seeds paired by seed number"),
        ((0, 1), (1, 2), WELCH_T, 4, "Welch's t over unpaired runs (seeds 0, 1 and 1, 2)"),
        ((0, 1, 2), (1,), BOOTSTRAP, 40, "paired bootstrap over 40 queries of seed 1"),
    ],
)
def test_the_interval_follows_what_the_runs_hold(tmp_path, seeds_a, seeds_b, kind, count, how):
    a, b = seeded_rows(tmp_path, seeds_a, seeds_b)
    comparison = compare(a, b, "bcs/map@all")
    assert (comparison.kind, comparison.count) == (kind, count)
    assert comparison.how.startswith(how)
    assert comparison.verdict == DISTINGUISHABLE and comparison.interval.low > 0


def test_without_a_shared_seed_or_per_query_figures_there_is_no_interval_and_why(tmp_path):
    a, b = seeded_rows(tmp_path, (0,), (1,))
    comparison = compare(a, b, "bcs/map@all")
    assert comparison.interval is None and comparison.verdict == NO_INTERVAL
    assert "no seed in common (seeds 0 and 1) and not two runs on each side" in comparison.reason
    old = write_run(tmp_path / "old", seed=1, metrics={"bcs/map@all": 0.5})  # no per_query.npz
    comparison = compare(b, old, "bcs/map@all")
    assert comparison.interval is None
    assert comparison.reason == f"{old} has no per_query.npz (a run written before runs kept them)"
    assert comparison.difference == pytest.approx(read_run(b[0]).metrics["bcs/map@all"] - 0.5)
    other = per_query_run(tmp_path / "other", 1, np.zeros(40), query_ids=np.arange(5, 45))
    comparison = compare(b, other, "bcs/map@all")
    assert "the runs' queries differ (10 query ids in one run only)" in comparison.reason


def tie_run(folder, seed, value, worst, best):
    metrics = {"bcs/map@all": value, "bcs/map@all_tie_worst": worst, "bcs/map@all_tie_best": best}
    return write_run(folder, seed=seed, metrics=metrics)


def test_a_difference_inside_the_tie_spread_is_marked_as_tie_breaking(tmp_path):
    """A is ahead on every seed, but its worst order inside ties is below B's best."""
    a = [tie_run(tmp_path / f"a{s}", s, 0.80 + s / 1000, 0.78, 0.82) for s in range(3)]
    b = [tie_run(tmp_path / f"b{s}", s, 0.79 + s / 1000, 0.785, 0.795) for s in range(3)]
    comparison = compare(a, b, "bcs/map@all")
    assert comparison.distinguishable and comparison.interval.low > 0
    assert (comparison.tie_range.low, comparison.tie_range.high) == pytest.approx((-0.015, 0.035))
    assert comparison.within_ties and comparison.verdict == TIE_BREAKING
    # ES has no ties: its own value is both its worst and its best
    es = [write_run(tmp_path / f"e{s}", seed=s, metrics={"es/map@all": 0.7}) for s in range(3)]
    against_es = compare(a, es, "bcs/map@all", "es/map@all")
    assert (against_es.tie_range.low, against_es.tie_range.high) == pytest.approx((0.08, 0.12))
    assert against_es.verdict == DISTINGUISHABLE


def test_runs_of_different_rows_or_data_sets_are_refused(tmp_path):
    a = write_run(tmp_path / "a", metrics={"bcs/map@all": 0.5})
    b = write_run(tmp_path / "b", data="cifar10", metrics={"bcs/map@all": 0.5})
    c = write_run(tmp_path / "c", hash_bits=12, seed=1, metrics={"bcs/map@all": 0.5})
    with pytest.raises(ValueError, match="a holds runs of 'digits' and b of 'cifar10'"):
        compare(a, b, "bcs/map@all")
    with pytest.raises(ValueError, match="the runs of a must be seeds of one row"):
        compare([a, c], a, "bcs/map@all")
    with pytest.raises(ValueError, match="no run of lin2015/lsh has a number for lsh/map@all"):
        compare(a, a, "lsh/map@all")
    with pytest.raises(ValueError, match="resamples=10: a 95% percentile interval needs"):
        compare(a, a, "bcs/map@all", resamples=10)
