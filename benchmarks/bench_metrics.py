"""evaluate_retrieval at the CIFAR-10 protocol size against the per-query reference.

    python benchmarks/bench_metrics.py                      # 10,000 x 50,000, 48 and 128 bits
    python benchmarks/bench_metrics.py --queries 1000 --database 5000 --bits 48

The reference (retrieval/reference.py: for each query its distances, a stable argsort of the
whole database, then the sums) runs on the first --reference-queries queries; its time is scaled
to all queries, and the engine's numbers on those queries must equal the reference's to 1e-9.
Codes are clustered by class with bits flipped at random; features are clustered too, rounded to
multiples of 1/8 so that float32 arithmetic is exact in both implementations.
"""

from __future__ import annotations

import argparse

import numpy as np

from ssdh_lightning.retrieval import RetrievalSettings, score_retrieval
from ssdh_lightning.retrieval.reference import reference_retrieval
from ssdh_lightning.testing.measure import PeakMemory, print_table, timed
from ssdh_lightning.testing.synthetic import retrieval_problem, sides

TARGET_RATIO = 50


def _settings(mode: str) -> RetrievalSettings:
    return RetrievalSettings(modes=(mode,), map_at=(1000, "all"), precision_at=(1, 10, 100, 1000))


def _subset(problem: dict, n: int) -> dict:
    return {key: value[:n] if key.startswith("query") else value for key, value in problem.items()}


def run(
    n_query: int,
    n_database: int,
    bits: list[int],
    modes: list[str],
    feature_dim: int,
    reference_queries: int,
    flip: float = 0.2,
    repeat: int = 1,
) -> list[dict]:
    """One row per bit length and mode; both sides are timed ``repeat`` times, the best kept."""
    rows = []
    for hash_bits in bits:
        problem = retrieval_problem(n_query, n_database, hash_bits, feature_dim, flip=flip)
        for key in ("query_features", "database_features"):
            problem[key] = np.round(problem[key] * 8) / 8
        for mode in modes:
            settings = _settings(mode)
            score_retrieval(*sides(_subset(problem, 2)), settings=settings)  # compile the kernels
            # memory first (freed memory stays with the process), then time without the sampler
            with PeakMemory() as memory:
                score_retrieval(*sides(problem), settings=settings)
            seconds, scores = timed(
                lambda s=settings, p=problem: score_retrieval(*sides(p), settings=s), repeat
            )
            subset = _subset(problem, reference_queries)
            reference_seconds, expected = timed(
                lambda s=settings, p=subset: reference_retrieval(**p, settings=s), repeat
            )
            engine_subset = score_retrieval(*sides(subset), settings=settings).metrics()
            difference = max(abs(engine_subset[k] - expected[k]) for k in expected)
            reference_all = reference_seconds * n_query / len(subset["query_labels"])
            metrics = scores.metrics()
            rows.append(
                {
                    "bits": hash_bits,
                    "mode": mode,
                    "engine_s": seconds,
                    "reference_s": reference_all,
                    "ratio": reference_all / seconds,
                    "peak_mib": memory.extra_mib,
                    "map@1000": metrics[f"{mode}/map@1000"],
                    "map@all": metrics[f"{mode}/map@all"],
                    "max_diff": difference,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--database", type=int, default=50_000)
    parser.add_argument("--bits", type=int, nargs="+", default=[48, 128])
    parser.add_argument("--modes", nargs="+", default=["bcs", "es", "hds"])
    parser.add_argument("--feature-dim", type=int, default=500)
    parser.add_argument("--reference-queries", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs, each side")
    args = parser.parse_args()
    rows = run(
        args.queries,
        args.database,
        args.bits,
        args.modes,
        args.feature_dim,
        args.reference_queries,
        repeat=args.repeat,
    )
    print(
        f"{args.queries} queries x {args.database} database items, "
        f"reference timed on {args.reference_queries} queries and scaled"
    )
    print_table(
        rows,
        [
            "bits",
            "mode",
            "engine_s",
            "reference_s",
            "ratio",
            "peak_mib",
            "map@1000",
            "map@all",
            "max_diff",
        ],
    )
    for row in rows:
        verdict = "meets" if row["ratio"] >= TARGET_RATIO else "misses"
        print(
            f"{row['mode']} {row['bits']} bits: {row['ratio']:.1f}x the reference "
            f"({verdict} the {TARGET_RATIO}x goal), same values to {row['max_diff']:.1e}"
        )


if __name__ == "__main__":
    main()
