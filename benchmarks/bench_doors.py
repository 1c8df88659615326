"""The engine's doors: search from 0/1 codes against search from packed codes, and the first
evaluate_retrieval of a process against the second.

    python benchmarks/bench_doors.py                        # 1,000,000 codes, 1,000 queries
    python benchmarks/bench_doors.py --database 100000 --queries 100

Run it in a fresh process: the first evaluate_retrieval is timed before anything else runs, so it
pays for loading the compiled kernels from numba's cache and starting its threads. Each door is
timed as its best of ``--repeat`` calls; the 0/1 door pays for checking and packing both sides.
"""

from __future__ import annotations

import argparse

import numpy as np

from ssdh_lightning.retrieval import evaluate_retrieval, pack_codes, search
from ssdh_lightning.testing.measure import print_table, timed
from ssdh_lightning.testing.synthetic import retrieval_problem


def first_and_second_evaluation(problem: dict) -> tuple[float, float]:
    def evaluate():
        return evaluate_retrieval(
            problem["query_codes"],
            problem["database_codes"],
            problem["query_labels"],
            problem["database_labels"],
            modes=("bcs",),
        )

    first, _ = timed(evaluate)
    second, _ = timed(evaluate)
    return first, second


def doors(problem: dict, k: int, repeat: int, dtype: str) -> dict:
    query = problem["query_codes"].astype(dtype)
    database = problem["database_codes"].astype(dtype)
    packed_query, packed_database = pack_codes(query), pack_codes(database)
    search(packed_query[:1], packed_database, k)  # compile the kernels
    packed, from_packed = timed(lambda: search(packed_query, packed_database, k), repeat)
    zero_one, from_bits = timed(lambda: search(query, database, k), repeat)
    return {
        "codes": dtype,
        "packed_ms": packed * 1e3,
        "zero_one_ms": zero_one * 1e3,
        "zero_one/packed": zero_one / packed,
        "same_results": bool(np.array_equal(from_packed.positions, from_bits.positions)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--bits", type=int, default=128)
    parser.add_argument("-k", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dtypes", nargs="+", default=["bool", "uint8", "int64", "float32"])
    args = parser.parse_args()
    problem = retrieval_problem(args.queries, args.database, args.bits, classes=100, flip=0.2)
    first, second = first_and_second_evaluation(problem)
    print(
        f"evaluate_retrieval (bcs), {args.queries} queries x {args.database} codes: first call "
        f"{first * 1e3:.0f} ms, second {second * 1e3:.0f} ms, first/second {first / second:.2f}"
    )
    rows = [doors(problem, args.k, args.repeat, dtype) for dtype in args.dtypes]
    print(f"search, k = {args.k}, {args.bits} bits, best of {args.repeat}")
    print_table(rows, ["codes", "packed_ms", "zero_one_ms", "zero_one/packed", "same_results"])


if __name__ == "__main__":
    main()
