"""The doors benchmark at a small size: both doors give the same results."""

from __future__ import annotations

from helpers import load_benchmark
from ssdh_lightning.testing.synthetic import retrieval_problem

bench_doors = load_benchmark("bench_doors")


def test_doors_benchmark_gives_the_same_results_from_either_door():
    problem = retrieval_problem(20, 3000, 48, classes=10, flip=0.2)
    for dtype in ("bool", "uint8", "int64", "float32"):
        row = bench_doors.doors(problem, k=10, repeat=1, dtype=dtype)
        assert row["same_results"], dtype
        assert row["packed_ms"] > 0 and row["zero_one_ms"] > 0
