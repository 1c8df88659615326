"""Each benchmark runs at a small size: its numbers are checked for correctness, not speed."""

from __future__ import annotations

import pytest

from helpers import load_benchmark

bench_hds = load_benchmark("bench_hds")
bench_metrics = load_benchmark("bench_metrics")
bench_search = load_benchmark("bench_search")
bench_ties = load_benchmark("bench_ties")


def test_metrics_benchmark_agrees_with_the_reference():
    rows = bench_metrics.run(60, 400, [16, 48], ["bcs", "es", "hds"], 8, reference_queries=20)
    assert {(row["bits"], row["mode"]) for row in rows} == {
        (b, m) for b in (16, 48) for m in ("bcs", "es", "hds")
    }
    for row in rows:
        assert row["max_diff"] <= 1e-9
        assert 0 < row["map@all"] <= 1 and row["ratio"] > 0


def test_ties_benchmark_at_a_small_size():
    rows = bench_ties.run(60, 1500, [16, 48])
    assert [row["bits"] for row in rows] == [16, 48]
    for row in rows:
        assert row["tie_worst"] <= row["tie_avg"] <= row["tie_best"] and row["ratio"] > 0


def test_search_benchmark_agrees_with_faiss():
    pytest.importorskip("faiss")
    rows = bench_search.run(n_database=5000, n_query=40, bits=128, k=10, single=3)
    assert len(rows) == 2
    assert all(row["same_results"] for row in rows)


def test_hds_benchmark_at_a_small_size(tmp_path):
    rows = bench_hds.run(
        tmp_path, n_database=3000, n_query=20, bits=64, dim=32, k=10, es_queries=5, pool_size=100
    )
    by_mode = {row["mode"]: row for row in rows}
    assert set(by_mode) == {"bcs", "es", "hds"}
    assert all(0 <= row["precision@10"] <= 1 for row in rows)
    assert len(list(tmp_path.glob("features_3000x32_*.npy"))) == 1
    # a second run reuses the features file
    rows_again = bench_hds.run(tmp_path, 3000, 20, 64, 32, 10, 5, 100)
    assert [r["precision@10"] for r in rows_again] == [r["precision@10"] for r in rows]


def test_search_agreement_check_notices_a_difference():
    import numpy as np

    indices = np.array([[0, 1, 2]])
    distances = np.array([[1, 2, 3]])
    assert bench_search.agree_up_to_ties(indices, distances, indices, distances)
    assert not bench_search.agree_up_to_ties(indices, distances, np.array([[0, 5, 2]]), distances)
    assert not bench_search.agree_up_to_ties(indices, distances, indices, distances + 1)
