"""evaluate_retrieval against PROTOCOL.md written out per query (retrieval/reference.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssdh_lightning.retrieval import (
    EvaluationSet,
    RetrievalSettings,
    evaluate_retrieval,
    pack_codes,
    score_retrieval,
)
from ssdh_lightning.retrieval.reference import reference_retrieval


def make_problem(rng, n_query, n_database, bits, classes, multi_label=False, dim=3):
    """Few bits and small integer features: many ties, and float arithmetic that is exact."""

    def labels(n):
        if multi_label:
            return (rng.random((n, classes)) < 0.4).astype(np.uint8)
        return rng.integers(0, classes, n)

    return dict(
        query_codes=rng.integers(0, 2, (n_query, bits)).astype(bool),
        database_codes=rng.integers(0, 2, (n_database, bits)).astype(bool),
        query_labels=labels(n_query),
        database_labels=labels(n_database),
        query_features=rng.integers(0, 3, (n_query, dim)).astype(np.float32),
        database_features=rng.integers(0, 3, (n_database, dim)).astype(np.float32),
    )


def sides(problem: dict) -> tuple[EvaluationSet, EvaluationSet]:
    """The query and database sides of a problem made by ``make_problem``."""
    return tuple(
        EvaluationSet(
            problem[f"{side}_labels"], problem[f"{side}_codes"], problem[f"{side}_features"]
        )
        for side in ("query", "database")
    )


def assert_same(engine: dict, reference: dict) -> None:
    assert engine.keys() == reference.keys()
    for key in engine:
        assert engine[key] == pytest.approx(reference[key], abs=1e-9), key


@st.composite
def problems(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    bits = draw(st.one_of(st.integers(1, 4), st.integers(1, 130)))
    # up to 60 items, and past 64: the scan reads its keys 64 at a time, then the rest
    n_database = draw(st.one_of(st.integers(1, 60), st.integers(61, 300)))
    problem = make_problem(
        np.random.default_rng(seed),
        n_query=draw(st.integers(1, 12)),
        n_database=n_database,
        bits=bits,
        classes=draw(st.integers(1, 5)),
        multi_label=draw(st.booleans()),
        dim=draw(st.integers(1, 4)),
    )
    ks = st.one_of(st.just("all"), st.integers(1, 2 * n_database + 2))
    pool = draw(st.sampled_from(["threshold", "size", "default"]))
    options = dict(
        map_at=tuple(draw(st.lists(ks, min_size=1, max_size=3, unique=True))),
        precision_at=tuple(draw(st.lists(ks, min_size=1, max_size=3, unique=True))),
        radius=draw(st.integers(0, 5)),
    )
    if pool == "threshold":
        options["hds_threshold"] = draw(st.integers(0, bits + 2))
    elif pool == "size":
        options["hds_pool_size"] = draw(st.integers(1, n_database + 3))
    return problem, options


@given(problems())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_engine_equals_the_per_query_reference(case):
    problem, options = case
    engine = evaluate_retrieval(**problem, **options)
    reference = reference_retrieval(**problem, settings=RetrievalSettings(**options))
    assert_same(engine, reference)


def test_keys_of_the_contract():
    problem = make_problem(np.random.default_rng(0), 20, 50, 8, 3)
    metrics = evaluate_retrieval(**problem)
    for mode in ("bcs", "es", "hds"):
        for name in (
            "map@1000",
            "map@all",
            "precision@1",
            "precision@10",
            "precision@100",
            "precision@1000",
        ):
            assert f"{mode}/{name}" in metrics
    for key in ("bcs/precision_r2", "bcs/empty_r2", "hds/pool_mean", "hds/pool_median"):
        assert key in metrics


def test_ties_go_to_the_lower_database_position():
    # Every database item is at the same distance; only the first is relevant.
    query = np.zeros((1, 8), dtype=bool)
    database = np.zeros((5, 8), dtype=bool)
    labels = np.array([1, 0, 0, 0, 0])
    metrics = evaluate_retrieval(
        query, database, np.array([1]), labels, modes=("bcs",), map_at=(1, "all"), precision_at=(1,)
    )
    assert metrics["bcs/map@1"] == 1.0 and metrics["bcs/precision@1"] == 1.0
    reversed_labels = labels[::-1].copy()
    metrics = evaluate_retrieval(
        query,
        database,
        np.array([1]),
        reversed_labels,
        modes=("bcs",),
        map_at=(1, "all"),
        precision_at=(1,),
    )
    assert metrics["bcs/precision@1"] == 0.0 and metrics["bcs/map@all"] == pytest.approx(1 / 5)


def test_a_database_of_one_item_and_k_beyond_it():
    problem = make_problem(np.random.default_rng(1), 4, 1, 16, 2)
    options = dict(map_at=(1000, "all"), precision_at=(1, 5000), hds_pool_size=10)
    assert_same(
        evaluate_retrieval(**problem, **options),
        reference_retrieval(**problem, settings=RetrievalSettings(**options)),
    )


def test_same_numbers_whatever_the_chunk_size_dtype_and_threads():
    rng = np.random.default_rng(2)
    problem = make_problem(rng, 40, 300, 12, 4, dim=5)
    expected = evaluate_retrieval(**problem, hds_threshold=4)
    variants = [
        dict(memory_budget=1),  # one query per chunk
        dict(memory_budget=40_000),
        dict(
            query_codes=problem["query_codes"].astype(np.uint8),
            database_codes=problem["database_codes"].astype(np.uint8),
        ),
        dict(
            query_codes=pack_codes(problem["query_codes"]),
            database_codes=pack_codes(problem["database_codes"]),
        ),
        dict(
            query_features=problem["query_features"].astype(np.float16),
            database_features=problem["database_features"].astype(np.float64),
        ),
        # class ids of any integer type and range: kept as they are or narrowed to uint8/16
        *(
            dict(
                query_labels=(problem["query_labels"] * scale + shift).astype(dtype),
                database_labels=(problem["database_labels"] * scale + shift).astype(dtype),
            )
            for scale, shift, dtype in ((1, 0, np.uint8), (300, 7, np.int32), (40_000, -1, int))
        ),
    ]
    for variant in variants:
        assert evaluate_retrieval(**{**problem, **variant}, hds_threshold=4) == pytest.approx(
            expected, abs=1e-9
        )
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert evaluate_retrieval(**problem, hds_threshold=4) == pytest.approx(expected, abs=1e-9)
    finally:
        numba.set_num_threads(threads)


def test_the_engine_leaves_torch_on_its_own_thread_count():
    # numba's OpenMP layer, started by a first evaluation, used to set torch's thread count to
    # numba's for the rest of a training; a fresh process, as a training run is
    script = """
import numpy as np, numba, torch
from ssdh_lightning.retrieval import evaluate_retrieval
def train_step():
    torch.nn.Conv2d(4, 8, 3)(torch.randn(16, 4, 12, 12)).sum().backward()
train_step()
codes = np.random.default_rng(0).random((60, 8)) > 0.5
labels = np.arange(60) % 3
evaluate_retrieval(codes[:10], codes, labels[:10], labels, modes=("bcs",))
train_step()
print(torch.get_num_threads(), numba.get_num_threads(), numba.threading_layer())
"""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"}
    env.pop("NUMBA_THREADING_LAYER", None)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    torch_threads, numba_threads, layer = result.stdout.split()
    assert (torch_threads, numba_threads) == ("1", "2")
    assert layer in ("omp", "tbb")  # thread-safe: the server searches on many threads at once


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    problem = make_problem(np.random.default_rng(3), 10, 40, 8, 3)
    expected = evaluate_retrieval(**problem)
    tensors = {key: torch.from_numpy(np.asarray(value)) for key, value in problem.items()}
    assert evaluate_retrieval(**tensors) == pytest.approx(expected, abs=1e-9)


def test_hds_with_a_pool_of_everything_is_es():
    problem = make_problem(np.random.default_rng(4), 15, 80, 6, 3)
    metrics = evaluate_retrieval(**problem, hds_threshold=7)
    for name in ("map@1000", "map@all", "precision@1", "precision@10"):
        assert metrics[f"hds/{name}"] == pytest.approx(metrics[f"es/{name}"], abs=1e-12)


def test_curves_and_pr_follow_the_metrics():
    problem = make_problem(np.random.default_rng(5), 20, 100, 10, 4)
    scores = score_retrieval(
        *sides(problem), settings=RetrievalSettings(map_at=(10, "all"), precision_at=(1, 10, 50))
    )
    metrics = scores.metrics()
    for mode, mode_scores in scores.modes.items():
        curve = mode_scores.precision_curve
        assert len(curve) == 50
        for k in (1, 10, 50):
            assert curve[k - 1] == pytest.approx(metrics[f"{mode}/precision@{k}"])
    precision, recall = scores.pr_curve()
    assert precision.shape == recall.shape == (11,)
    assert recall[-1] == pytest.approx(1.0)  # radius = hash_bits holds the whole database
    assert np.all(np.diff(recall) >= -1e-12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            dict(query_labels=np.zeros(3, dtype=int)),
            "query_codes has 5 rows but query_labels has 3",
        ),
        (dict(database_codes=np.zeros((9, 8), dtype=bool)), "database_codes has 9 rows"),
        (dict(database_codes=np.zeros((20, 9), dtype=bool)), "query codes have 8 bits"),
        (dict(query_codes=np.full((5, 8), 2)), "must hold only 0 and 1"),
        (dict(query_features=None), "pass query_features and database_features"),
        (
            dict(query_features=np.zeros((5, 2), np.float32)),
            "query_features have 2 values but database_features have 3",
        ),
        (dict(query_labels=np.zeros(5)), "must be integer class ids"),
        (
            dict(database_labels=np.zeros(0, dtype=int), database_codes=np.zeros((0, 8), bool)),
            "the database is empty",
        ),
    ],
)
def test_bad_inputs_name_the_problem(change, message):
    problem = make_problem(np.random.default_rng(6), 5, 20, 8, 2)
    with pytest.raises((ValueError, TypeError), match=message):
        evaluate_retrieval(**{**problem, **change})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(modes=("bcs", "xyz")), "unknown: \\['xyz'\\]"),
        (dict(map_at=(0,)), "positive integers or 'all'"),
        (dict(precision_at=("ten",)), "positive integers or 'all'"),
        (dict(radius=-1), "radius must be an integer >= 0"),
        (dict(hds_threshold=3, hds_pool_size=10), "not both"),
        (dict(hds_pool_size=0), "hds_pool_size must be an integer >= 1"),
    ],
)
def test_bad_settings_list_what_is_allowed(options, message):
    problem = make_problem(np.random.default_rng(7), 5, 20, 8, 2)
    with pytest.raises(ValueError, match=message):
        evaluate_retrieval(**problem, **options)
