"""HDS against ES (and BCS) at a million items, features memory-mapped from disk.

    python benchmarks/bench_hds.py                          # 1,000,000 items, 128 bits, 4096-d
    python benchmarks/bench_hds.py --database 100000 --feature-dim 512

The database's 4,096-d float16 features (8 GB at the default size) are written once to
--workdir and memory-mapped; later runs with the same sizes reuse the file. Each mode searches
the top 100 of every query; its time per query and precision@100 (same class in the top 100)
are printed, with HDS's speed-up over ES and the BCS-to-HDS ratio (the paper reports 971x).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ssdh_lightning.io import atomic_write
from ssdh_lightning.retrieval import pack_codes, search
from ssdh_lightning.testing.measure import print_table, timed
from ssdh_lightning.testing.synthetic import clustered_codes, clustered_features

_CHUNK = 20_000


FLIP, NOISE = 0.3, 1.2  # hard enough that no mode finds every neighbour


def make_data(workdir: Path, n_database: int, n_query: int, bits: int, dim: int, seed: int = 0):
    """Clustered codes and features; the database features go to a .npy file, float16."""
    rng = np.random.default_rng(seed)
    classes = 100
    code_centres = rng.random((classes, bits)) < 0.5
    feature_centres = rng.random((classes, dim), dtype=np.float32)
    labels = rng.integers(0, classes, n_database + n_query)
    codes = clustered_codes(rng, labels, code_centres, flip=FLIP)
    path = workdir / f"features_{n_database}x{dim}_seed{seed}_noise{NOISE}.npy"
    if not path.is_file():

        def write(stream) -> None:
            header = {"descr": "<f2", "fortran_order": False, "shape": (n_database, dim)}
            np.lib.format.write_array_header_1_0(stream, header)
            chunk_rng = np.random.default_rng(seed + 1)
            for start in range(0, n_database, _CHUNK):
                chunk = labels[start : min(start + _CHUNK, n_database)]
                features = clustered_features(chunk_rng, chunk, feature_centres, noise=NOISE)
                stream.write(features.astype(np.float16).tobytes())

        atomic_write(path, write)
    query_features = clustered_features(rng, labels[n_database:], feature_centres, noise=NOISE)
    return {
        "database_codes": pack_codes(codes[:n_database]),
        "query_codes": pack_codes(codes[n_database:]),
        "database_features": np.load(path, mmap_mode="r"),
        "query_features": query_features,
        "database_labels": labels[:n_database],
        "query_labels": labels[n_database:],
    }


def _precision(result, data, k: int) -> float:
    found = data["database_labels"][result.positions]
    return float((found == data["query_labels"][:, None]).mean())


def run(
    workdir: Path,
    n_database: int,
    n_query: int,
    bits: int,
    dim: int,
    k: int,
    es_queries: int,
    pool_size: int,
) -> list[dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    data = make_data(workdir, n_database, n_query, bits, dim)
    queries = {
        "bcs": dict(mode="bcs"),
        "hds": dict(mode="hds", hds_pool_size=pool_size),
        "es": dict(mode="es"),
    }
    rows = []
    for mode, options in queries.items():
        n = es_queries if mode == "es" else n_query
        subset = {key: value[:n] for key, value in data.items() if key.startswith("query")}
        run_once = lambda s=subset, o=options: search(  # noqa: E731
            s["query_codes"],
            data["database_codes"],
            k,
            query_features=s["query_features"],
            database_features=data["database_features"],
            **o,
        )
        search(
            **{"query": subset["query_codes"][:1], "database": data["database_codes"], "k": k},
            mode="bcs",
        )
        seconds, result = timed(run_once)
        labels_subset = {**data, "query_labels": data["query_labels"][:n]}
        rows.append(
            {
                "mode": mode,
                "queries": n,
                "ms_per_query": seconds / n * 1e3,
                f"precision@{k}": _precision(result, labels_subset, k),
            }
        )
    by_mode = {row["mode"]: row for row in rows}
    es, hds, bcs = by_mode["es"], by_mode["hds"], by_mode["bcs"]
    hds["es/this"] = es["ms_per_query"] / hds["ms_per_query"]
    bcs["es/this"] = es["ms_per_query"] / bcs["ms_per_query"]
    bcs["hds/this"] = hds["ms_per_query"] / bcs["ms_per_query"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ssdh-bench"))
    parser.add_argument("--database", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--es-queries", type=int, default=20, help="ES reads every feature")
    parser.add_argument("--bits", type=int, default=128)
    parser.add_argument("--feature-dim", type=int, default=4096)
    parser.add_argument("--pool-size", type=int, default=1000)
    parser.add_argument("-k", type=int, default=100)
    args = parser.parse_args()
    rows = run(
        args.workdir,
        args.database,
        args.queries,
        args.bits,
        args.feature_dim,
        args.k,
        args.es_queries,
        args.pool_size,
    )
    print(
        f"{args.database} items, {args.bits}-bit codes, {args.feature_dim}-d float16 features "
        f"memory-mapped; HDS pool = the {args.pool_size} nearest by Hamming"
    )
    print_table(
        rows, ["mode", "queries", "ms_per_query", f"precision@{args.k}", "es/this", "hds/this"]
    )
    by_mode = {row["mode"]: row for row in rows}
    gap = by_mode["es"][f"precision@{args.k}"] - by_mode["hds"][f"precision@{args.k}"]
    print(
        f"HDS is {by_mode['hds']['es/this']:.0f}x faster than ES, {gap:+.4f} precision@{args.k}"
        f" below it; BCS is {by_mode['bcs']['hds/this']:.0f}x faster than HDS "
        "(the paper: 971x)"
    )


if __name__ == "__main__":
    main()
