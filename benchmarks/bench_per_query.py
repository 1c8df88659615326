"""What the per-query figures cost a run (bytes, seconds to write and read), and what the
report's bootstrap over them costs.

    python benchmarks/bench_per_query.py                  # CIFAR-10's paper split: 10,000 x 50,000
    python benchmarks/bench_per_query.py --queries 1000 --database 5000

A default run keeps six rows (bcs, es, hds, lsh, itq, initial), each with mAP@1000, mAP@all and
precision@1, 10, 100 and 1000 of every query: 36 arrays. Their values come from the engine's BCS
scoring of clustered codes (as in bench_ties.py), one code set a row, each with its own flip
rate, so that the rows differ as a real run's do. The run writes them with ``write_per_query``
(float32, compressed, atomic); the report reads them back and draws the paired bootstrap of the
default figures it compares (mAP@1000 and mAP@all, every row: 12 columns).
"""

from __future__ import annotations

import argparse
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

from ssdh_lightning import metric_names
from ssdh_lightning.per_query import read_per_query, write_per_query
from ssdh_lightning.reporting.intervals import DEFAULT_RESAMPLES, resampled_means
from ssdh_lightning.retrieval import EvaluationSet, RetrievalSettings, score_retrieval
from ssdh_lightning.testing.measure import print_table, timed
from ssdh_lightning.testing.synthetic import retrieval_problem

ROWS = ("bcs", "es", "hds", "lsh", "itq", "initial")
FLIPS = (0.12, 0.14, 0.13, 0.25, 0.18, 0.3)  # each row's codes: its share of flipped bits
SETTINGS = RetrievalSettings(modes=("bcs",), map_at=(1000, "all"), precision_at=(1, 10, 100, 1000))
COMPARED = ("map@1000", "map@all")


def run_figures(n_query: int, n_database: int, bits: int) -> dict[str, np.ndarray]:
    """The 36 per-query arrays of a default run, keyed as per_query.npz keys them."""
    figures = {}
    for row, flip in zip(ROWS, FLIPS, strict=True):
        problem = retrieval_problem(n_query, n_database, bits, flip=flip, seed=len(figures))
        query, database = (
            EvaluationSet(problem[f"{side}_labels"], problem[f"{side}_codes"])
            for side in ("query", "database")
        )
        scores = score_retrieval(query, database, settings=SETTINGS).per_query()
        figures |= {metric_names.renamed(key, row): values for key, values in scores.items()}
    return figures


def run(
    n_query: int, n_database: int, bits: int = 48, resamples: int = DEFAULT_RESAMPLES, repeat=3
) -> dict:
    figures = run_figures(n_query, n_database, bits)
    query_ids = 50_000 + np.arange(n_query)  # CIFAR-10's test images, as the data module names them
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "per_query.npz"
        write_s, _ = timed(partial(write_per_query, path, query_ids, figures), repeat)
        read_s, per_query = timed(partial(read_per_query, path), repeat)
        size = path.stat().st_size
    for key, values in figures.items():
        if not np.array_equal(per_query.figures[key], values.astype(np.float32)):
            raise AssertionError(f"{key} did not read back as it was written")
    columns = np.stack(
        [per_query.figures[f"{row}/{figure}"] for row in ROWS for figure in COMPARED], axis=1
    )
    bootstrap_s, _ = timed(partial(resampled_means, columns, resamples), 1)
    return {
        "queries": n_query,
        "arrays": len(figures),
        "raw_bytes": sum(4 * len(values) for values in figures.values()) + 8 * n_query,
        "file_bytes": size,
        "write_s": write_s,
        "read_s": read_s,
        "bootstrap_columns": columns.shape[1],
        "resamples": resamples,
        "bootstrap_s": bootstrap_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--database", type=int, default=50_000)
    parser.add_argument("--bits", type=int, default=48)
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES)
    parser.add_argument("--repeat", type=int, default=5, help="best of this many writes and reads")
    args = parser.parse_args()
    row = run(args.queries, args.database, args.bits, args.resamples, args.repeat)
    print(f"{args.queries} queries x {args.database} database items, {args.bits} bits")
    print_table([row], list(row))


if __name__ == "__main__":
    main()
