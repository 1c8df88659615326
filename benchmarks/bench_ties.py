"""BCS scoring with the figures over the orders inside ties against BCS scoring without them.

    python benchmarks/bench_ties.py                         # 10,000 x 50,000, 48 bits
    python benchmarks/bench_ties.py --queries 1000 --database 5000 --bits 48 128

Both sides are ``score_retrieval`` in BCS mode with mAP@1000, mAP@all and precision@1, 10, 100,
1000, one with ``tie_figures``: the ratio is what the tie figures cost. Codes as in
bench_metrics.py (clustered by class, bits flipped at random), which have the ties of trained
codes. The figures without ties must not change when the tie figures are added, and the tie
average must lie between the best and the worst.
"""

from __future__ import annotations

import argparse
from functools import partial

from ssdh_lightning import metric_names as names
from ssdh_lightning.retrieval import EvaluationSet, RetrievalSettings, score_retrieval
from ssdh_lightning.testing.measure import print_table, timed
from ssdh_lightning.testing.synthetic import retrieval_problem

TARGET_RATIO = 1.5


def _settings(tie_figures: bool) -> RetrievalSettings:
    return RetrievalSettings(
        modes=("bcs",),
        map_at=(1000, "all"),
        precision_at=(1, 10, 100, 1000),
        tie_figures=tie_figures,
    )


def _metrics(query, database, tie_figures: bool) -> dict[str, float]:
    return score_retrieval(query, database, settings=_settings(tie_figures)).metrics()


def _check(plain: dict, tied: dict) -> None:
    if any(tied[key] != value for key, value in plain.items()):
        raise AssertionError("the tie figures changed the figures of the stable order")
    for k in (1000, "all"):
        key = names.map_at("bcs", k)
        low, mean, high = (
            tied[names.tie_figure(key, f)] for f in ("tie_worst", "tie_avg", "tie_best")
        )
        if not low <= mean <= high:
            raise AssertionError(f"{key}: tie average {mean} outside {low}..{high}")


def run(n_query: int, n_database: int, bits: list[int], repeat: int = 1) -> list[dict]:
    """One row per bit length; both sides timed ``repeat`` times, the best kept."""
    rows = []
    for hash_bits in bits:
        problem = retrieval_problem(n_query, n_database, hash_bits, flip=0.2)
        query, database = (
            EvaluationSet(problem[f"{side}_labels"], problem[f"{side}_codes"])
            for side in ("query", "database")
        )
        for tie_figures in (False, True):  # compile the kernels
            _metrics(query.head(2), database, tie_figures)
        timings = {
            tie_figures: timed(partial(_metrics, query, database, tie_figures), repeat)
            for tie_figures in (False, True)
        }
        (plain_s, plain), (tied_s, tied) = timings[False], timings[True]
        _check(plain, tied)
        key = names.map_at("bcs", 1000)
        rows.append(
            {
                "bits": hash_bits,
                "bcs_s": plain_s,
                "bcs_with_ties_s": tied_s,
                "ratio": tied_s / plain_s,
                "map@1000": plain[key],
                "tie_avg": tied[names.tie_figure(key, names.TIE_AVG)],
                "tie_best": tied[names.tie_figure(key, names.TIE_BEST)],
                "tie_worst": tied[names.tie_figure(key, names.TIE_WORST)],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--database", type=int, default=50_000)
    parser.add_argument("--bits", type=int, nargs="+", default=[48])
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs, each side")
    args = parser.parse_args()
    rows = run(args.queries, args.database, args.bits, repeat=args.repeat)
    print(f"{args.queries} queries x {args.database} database items, BCS")
    columns = ["bits", "bcs_s", "bcs_with_ties_s", "ratio", "map@1000"]
    print_table(rows, [*columns, "tie_avg", "tie_best", "tie_worst"])
    for row in rows:
        verdict = "meets" if row["ratio"] <= TARGET_RATIO else "misses"
        print(
            f"{row['bits']} bits: the tie figures take {row['ratio']:.2f}x the time of BCS "
            f"scoring ({verdict} the <= {TARGET_RATIO}x goal)"
        )


if __name__ == "__main__":
    main()
