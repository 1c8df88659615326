"""BCS figures over the orders inside ties of Hamming distance (PROTOCOL.md), against every order
enumerated on small inputs and a Monte Carlo mean of random orders on larger ones."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ssdh_lightning import metric_names as names
from ssdh_lightning.retrieval import EvaluationSet, RetrievalSettings, score_retrieval


def average_precision(relevant: np.ndarray, k: int) -> np.ndarray:
    """AP@k of PROTOCOL.md for each row of rankings ``relevant`` (orders, n): the sum of
    precision@i at the relevant ranks i <= k, over the relevant items within the top k."""
    top = relevant[:, :k].astype(np.float64)
    found = top.sum(axis=1)
    precision_at_i = np.cumsum(top, axis=1) / np.arange(1, top.shape[1] + 1)
    total = (top * precision_at_i).sum(axis=1)
    return np.divide(total, found, out=np.zeros_like(total), where=found > 0)


def every_order(distances: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """The relevance of each ranking by distance, for every order of the items inside each tie."""
    buckets = [np.flatnonzero(distances == d) for d in np.unique(distances)]
    orders = [
        np.concatenate(choice)
        for choice in itertools.product(*(itertools.permutations(b) for b in buckets))
    ]
    return relevant[np.array(orders)]


def random_orders(distances, relevant, rng, n_orders: int) -> np.ndarray:
    """The relevance of ``n_orders`` rankings by distance, each tie in a random order."""
    shuffle = rng.random((n_orders, len(distances)))
    return relevant[np.lexsort((shuffle, np.broadcast_to(distances, shuffle.shape)), axis=1)]


def codes_at(distances: np.ndarray, hash_bits: int) -> np.ndarray:
    """Database codes at these Hamming distances from the all-zero query code."""
    return (np.arange(hash_bits) < np.asarray(distances)[:, None]).astype(np.uint8)


def tie_metrics(distances, relevant, map_at, precision_at=(1,), hash_bits=8) -> dict:
    """The engine's figures for one all-zero query (label 0) and items of those distances."""
    query = EvaluationSet(np.zeros(1, dtype=np.int64), np.zeros((1, hash_bits), dtype=np.uint8))
    database = EvaluationSet(
        np.where(relevant, 0, 1).astype(np.int64), codes_at(distances, hash_bits)
    )
    settings = RetrievalSettings(
        modes=("bcs",), map_at=map_at, precision_at=precision_at, tie_figures=True
    )
    return score_retrieval(query, database, settings=settings).metrics()


def _figure(metrics, k, figure, kind=names.map_at):
    return metrics[names.tie_figure(kind("bcs", k), figure)]


def _check_against_enumeration(distances, relevant) -> None:
    n = len(distances)
    ks = sorted({1, 2, max(1, n // 2), n - 1 or 1, n, n + 3})
    metrics = tie_metrics(distances, relevant, map_at=(*ks, "all"), precision_at=(*ks, "all"))
    rankings = every_order(distances, relevant)
    for k in (*ks, "all"):
        depth = n if k == "all" else min(k, n)
        ap = average_precision(rankings, depth)
        assert _figure(metrics, k, names.TIE_AVG) == pytest.approx(ap.mean(), abs=1e-12), k
        assert _figure(metrics, k, names.TIE_BEST) == pytest.approx(ap.max(), abs=1e-12), k
        assert _figure(metrics, k, names.TIE_WORST) == pytest.approx(ap.min(), abs=1e-12), k
        precision = rankings[:, :depth].sum(axis=1) / depth
        assert _figure(metrics, k, names.TIE_AVG, names.precision_at) == pytest.approx(
            precision.mean(), abs=1e-12
        )


@pytest.mark.parametrize("seed", range(40))
def test_every_order_enumerated(seed):
    """Small queries with ties of every kind: k cutting a tie, k past the database."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 8))
    distances = rng.integers(0, int(rng.integers(1, 4)), n)
    relevant = rng.random(n) < rng.random()
    _check_against_enumeration(distances, relevant)


@pytest.mark.parametrize(
    "distances, relevant",
    [
        ([0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 1]),  # all items tied
        ([2, 2, 2, 2], [0, 0, 0, 0]),  # no relevant item
        ([1, 1, 1], [1, 1, 1]),  # every item relevant
        ([0, 1, 2, 3, 4], [1, 0, 1, 1, 0]),  # no ties at all
        ([3], [1]),
    ],
)
def test_edge_cases_against_enumeration(distances, relevant):
    _check_against_enumeration(np.array(distances), np.array(relevant, dtype=bool))


def test_no_ties_gives_the_ranking_itself():
    distances, relevant = np.array([0, 1, 2, 3, 4]), np.array([1, 0, 1, 1, 0], dtype=bool)
    metrics = tie_metrics(distances, relevant, map_at=(3, "all"))
    for k in (3, "all"):
        for figure in (names.TIE_AVG, names.TIE_BEST, names.TIE_WORST):
            assert _figure(metrics, k, figure) == pytest.approx(metrics[names.map_at("bcs", k)])


def test_more_relevant_items_in_the_top_k_can_lower_ap_at_k():
    """AP@k divides by the relevant items within the top k: here the best AP@4 puts the second
    tie's relevant item last, outside the top 4, and relevant-first everywhere is not the best."""
    distances, relevant = np.array([0, 0, 0, 1, 1]), np.array([1, 0, 0, 1, 0], dtype=bool)
    metrics = tie_metrics(distances, relevant, map_at=(4,))
    assert metrics[names.map_at("bcs", 4)] == pytest.approx((1 + 2 / 4) / 2)  # relevant-first
    assert _figure(metrics, 4, names.TIE_BEST) == pytest.approx(1.0)  # [1 0 0 | 0 1]
    assert _figure(metrics, 4, names.TIE_WORST) == pytest.approx(1 / 3)  # [0 0 1 | 0 1]


def test_monte_carlo_mean_of_random_tie_orders():
    """Larger queries: the closed form against the mean of random orders, within 4 standard
    errors; no order drawn falls outside best..worst."""
    rng = np.random.default_rng(7)
    n, n_orders = 300, 4000
    for query in range(3):
        distances = rng.integers(0, 5, n)
        relevant = rng.random(n) < (0.1, 0.3, 0.6)[query]
        ks = (10, 60, 150)
        metrics = tie_metrics(distances, relevant, map_at=(*ks, "all"), precision_at=ks)
        rankings = random_orders(distances, relevant, rng, n_orders)
        for k in (*ks, "all"):
            ap = average_precision(rankings, n if k == "all" else k)
            error = ap.std(ddof=1) / np.sqrt(n_orders)
            assert abs(_figure(metrics, k, names.TIE_AVG) - ap.mean()) <= 4 * error + 1e-12
            assert _figure(metrics, k, names.TIE_BEST) >= ap.max() - 1e-12
            assert _figure(metrics, k, names.TIE_WORST) <= ap.min() + 1e-12
        for k in ks:
            precision = rankings[:, :k].mean(axis=1)
            error = precision.std(ddof=1) / np.sqrt(n_orders)
            figure = _figure(metrics, k, names.TIE_AVG, names.precision_at)
            assert abs(figure - precision.mean()) <= 4 * error + 1e-12


def test_means_over_queries_and_chunks():
    """Several queries, multi-label relevance, scored in chunks of one query: the figures are
    the means of each query's own enumeration."""
    rng = np.random.default_rng(3)
    query_codes = rng.integers(0, 2, (4, 2)).astype(np.uint8)
    database_codes = rng.integers(0, 2, (6, 2)).astype(np.uint8)
    query_labels = (rng.random((4, 3)) < 0.5).astype(np.uint8)
    database_labels = (rng.random((6, 3)) < 0.5).astype(np.uint8)
    settings = RetrievalSettings(
        modes=("bcs",), map_at=(3,), precision_at=(2,), tie_figures=True, memory_budget=1
    )
    metrics = score_retrieval(
        EvaluationSet(query_labels, query_codes),
        EvaluationSet(database_labels, database_codes),
        settings=settings,
    ).metrics()
    expected, best = [], []
    for q in range(4):
        distances = (query_codes[q] != database_codes).sum(axis=1)
        relevant = (query_labels[q] & database_labels).any(axis=1)
        ap = average_precision(every_order(distances, relevant), 3)
        expected.append(ap.mean())
        best.append(ap.max())
    assert _figure(metrics, 3, names.TIE_AVG) == pytest.approx(np.mean(expected), abs=1e-12)
    assert _figure(metrics, 3, names.TIE_BEST) == pytest.approx(np.mean(best), abs=1e-12)


def test_tie_figures_only_when_asked():
    query = EvaluationSet(np.zeros(1, dtype=np.int64), np.zeros((1, 4), dtype=np.uint8))
    database = EvaluationSet(np.array([0, 1, 0]), codes_at(np.array([1, 1, 2]), 4))
    plain = score_retrieval(query, database, settings=RetrievalSettings(modes=("bcs",)))
    assert not [key for key in plain.metrics() if "tie" in key]
    with pytest.raises(ValueError, match="tie_figures must be true or false"):
        RetrievalSettings(tie_figures="yes")
