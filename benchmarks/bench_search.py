"""Top-k Hamming search over a million 128-bit codes: the engine against FAISS IndexBinaryFlat.

    python benchmarks/bench_search.py                       # 1,000,000 codes, 1,000 queries, k=100
    python benchmarks/bench_search.py --database 100000 --queries 100

Both get packed codes prepared once (FAISS: IndexBinaryFlat.add; the engine: PackedCodes, whose
column layout is made on first use) and are timed on a batch of queries in one call, and on one
query at a time. Results must agree up to ties: the same distances, and the same items nearer
than each query's k-th distance (FAISS breaks ties at the k-th distance arbitrarily; the engine by
database position). The floor is reading the database's codes once per call, timed as a numpy
sum over them.
"""

from __future__ import annotations

import argparse

import numpy as np

from ssdh_lightning.retrieval import PackedCodes, pack_codes, search
from ssdh_lightning.testing.measure import print_table, timed
from ssdh_lightning.testing.synthetic import retrieval_problem


def _faiss_index(database: PackedCodes):
    import faiss

    index = faiss.IndexBinaryFlat(database.bytes.shape[1] * 8)
    index.add(np.ascontiguousarray(database.bytes))
    return index


def agree_up_to_ties(indices, distances, faiss_indices, faiss_distances) -> bool:
    if not np.array_equal(distances, faiss_distances):
        return False
    for ours, theirs, row in zip(indices, faiss_indices, distances, strict=True):
        nearer = row < row[-1]
        if set(ours[nearer]) != set(theirs[nearer]):
            return False
    return True


def run(n_database: int, n_query: int, bits: int, k: int, single: int) -> list[dict]:
    problem = retrieval_problem(n_query, n_database, bits, classes=100, flip=0.2)
    query, database = pack_codes(problem["query_codes"]), pack_codes(problem["database_codes"])
    database.columns  # noqa: B018 - laid out once, as an index would be
    index = _faiss_index(database)
    search(query[:1], database, k)  # compile the kernels
    floor_seconds, _ = timed(lambda: database.columns.sum(), repeat=5)
    batch_seconds, ours = timed(lambda: search(query, database, k))
    faiss_batch_seconds, (faiss_d, faiss_i) = timed(lambda: index.search(query.bytes, k))
    agree = agree_up_to_ties(ours.positions, ours.distances, faiss_i, faiss_d)
    one_seconds, _ = timed(lambda: [search(query[a : a + 1], database, k) for a in range(single)])
    faiss_one_seconds, _ = timed(
        lambda: [index.search(query.bytes[a : a + 1], k) for a in range(single)]
    )
    rows = []
    for name, seconds, faiss_seconds in (
        (f"{n_query} queries, one call", batch_seconds, faiss_batch_seconds),
        ("one query", one_seconds / single, faiss_one_seconds / single),
    ):
        rows.append(
            {
                "search": name,
                "engine_ms": seconds * 1e3,
                "faiss_ms": faiss_seconds * 1e3,
                "faiss/engine": faiss_seconds / seconds,
                "floor_ms": floor_seconds * 1e3,
                "engine/floor": seconds / floor_seconds,
                "faiss/floor": faiss_seconds / floor_seconds,
                "same_results": agree,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--bits", type=int, default=128)
    parser.add_argument("-k", type=int, default=100)
    parser.add_argument("--single", type=int, default=50, help="single queries timed, averaged")
    args = parser.parse_args()
    rows = run(args.database, args.queries, args.bits, args.k, args.single)
    print(
        f"{args.database} codes of {args.bits} bits, k = {args.k}; floor = one read of the "
        f"{args.database * args.bits // 8 / 1e6:.0f} MB of codes"
    )
    print_table(
        rows,
        [
            "search",
            "engine_ms",
            "faiss_ms",
            "faiss/engine",
            "floor_ms",
            "engine/floor",
            "faiss/floor",
            "same_results",
        ],
    )


if __name__ == "__main__":
    main()
