"""bench_backends at a small size: its recall figures are checked, not its speed."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from helpers import load_benchmark

bench_backends = load_benchmark("bench_backends")


pytest.importorskip("faiss")


def test_statistics_and_the_codes_drawn_to_match_them():
    codes = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1], [1, 1, 1, 1]], dtype=bool)
    statistics = bench_backends.code_statistics(codes, np.array([0, 0, 1, 1]))
    # class 0's majority centre is 0000 (a tie of 0 and 1 is not > 0.5), class 1's is 1111
    assert np.allclose(statistics["to_centre"], [0, 0.25, 0, 0])
    assert np.allclose(statistics["between_centres"], [1.0])
    rng = np.random.default_rng(0)
    pairs = {"within": 0.1, "between": 0.5}
    centres = bench_backends.draw_centres(rng, 200, 128, pairs)
    drawn, labels = bench_backends.draw_codes(rng, 20_000, 128, centres, np.array([0.05]))
    measured = bench_backends.pair_distances(drawn, labels, rng)
    assert abs(measured["within"] - 0.095) < 0.01  # 2 p (1 - p) for p = 0.05
    assert abs(measured["between"] - 0.5) < 0.03


def test_flip_rates_are_scaled_to_the_measured_within_class_pairs():
    rng = np.random.default_rng(0)
    to_centre = rng.uniform(0.02, 0.12, 500)
    flips = bench_backends.matched_flips(to_centre, 0.1)
    assert np.allclose(flips / to_centre, flips[0] / to_centre[0])  # one scale: the same shape
    centres = bench_backends.draw_centres(rng, 100, 128, {"within": 0.1, "between": 0.45})
    drawn, labels = bench_backends.draw_codes(rng, 20_000, 128, centres, flips)
    measured = bench_backends.pair_distances(drawn, labels, rng)
    assert abs(measured["within"] - 0.1) < 0.01
    assert abs(measured["between"] - 0.45) < 0.03


def test_recall_counts_ties_at_the_kth_distance_as_found():
    found = np.array([[4, 7, -1]])
    assert bench_backends.recall_at(found, np.array([3]), np.array([[2, 3, 49]])) == 2 / 3
    assert bench_backends.recall_at(found, np.array([2]), np.array([[2, 3, 49]])) == 1 / 3


def test_a_small_run_reports_every_backend(tmp_path):
    args = argparse.Namespace(
        items=20_000, queries=50, single=3, classes=50, seed=0, work=tmp_path,
        backends=["faiss", "multihash", "ivf"], tables=None, nflip=[1, 4], nlist=64,
        nprobe=[64], train_size=None,
    )  # fmt: skip
    rng = np.random.default_rng(1)
    statistics = {"to_centre": rng.uniform(0.02, 0.1, 100)}
    rows = bench_backends.run(args, 48, statistics, {"within": 0.1, "between": 0.5})
    by_name = {row["backend"]: row for row in rows}
    assert set(by_name) == {"engine (exact)", "faiss", "multihash nflip=1", "multihash nflip=4",
                            "ivf nprobe=64"}  # fmt: skip
    assert by_name["faiss"]["recall@100"] == 1.0
    assert by_name["ivf nprobe=64"]["recall@100"] == 1.0  # every list scanned
    assert by_name["multihash nflip=4"]["recall@100"] >= by_name["multihash nflip=1"]["recall@100"]
    assert len(list(tmp_path.glob("backends_20000x48_seed0.npy"))) == 1
