"""search(mode="hds") returns the very ranking that score_retrieval scores for HDS.

Each database item gets a class of its own, and each (query, item) pair becomes one scored query
whose only relevant item is that item: its precision@k for every k then says at which rank the
metrics put the item, so the metrics' whole ranking can be read back and set against search's.
"""

from __future__ import annotations

import numpy as np
import pytest

from ssdh_lightning.retrieval import EvaluationSet, RetrievalSettings, score_retrieval, search


def ranking_the_metrics_score(
    query_codes, database_codes, query_features, database_features, **pool
):
    n_query, n_database = len(query_codes), len(database_codes)
    settings = RetrievalSettings(
        modes=("hds",), map_at=(1,), precision_at=tuple(range(1, n_database + 1)), **pool
    )
    # query a * n_database + j: the codes and features of query a, relevant to item j alone
    scored = score_retrieval(
        EvaluationSet(
            np.tile(np.eye(n_database, dtype=np.int64), (n_query, 1)),
            np.repeat(query_codes, n_database, axis=0),
            np.repeat(query_features, n_database, axis=0),
        ),
        EvaluationSet(np.eye(n_database, dtype=np.int64), database_codes, database_features),
        settings=settings,
    )
    found = np.stack(
        [np.concatenate(scored.modes["hds"].precision[k]) * k for k in settings.precision_at], 1
    )
    # the rank of the one relevant item: the first cut-off that holds it
    rank = np.argmax(found > 0.5, axis=1).reshape(n_query, n_database)
    return np.argsort(rank, axis=1), np.concatenate(scored.pool_sizes)[::n_database]


@pytest.mark.parametrize(
    "pool",
    [
        dict(hds_pool_size=7),
        dict(hds_pool_size=1),
        dict(hds_pool_size=40),
        dict(hds_threshold=2),
        dict(hds_threshold=0),
    ],
)
def test_search_returns_the_hds_ranking_the_metrics_score(pool):
    rng = np.random.default_rng(3)
    # few bits and few feature values: many ties in both distances, and a pool cut inside a tie
    data = dict(
        query_codes=rng.integers(0, 2, (4, 4)).astype(np.uint8),
        database_codes=rng.integers(0, 2, (30, 4)).astype(np.uint8),
        query_features=rng.integers(0, 2, (4, 2)).astype(np.float32),
        database_features=rng.integers(0, 2, (30, 2)).astype(np.float32),
    )
    expected, expected_pools = ranking_the_metrics_score(**data, **pool)
    result = search(
        data["query_codes"],
        data["database_codes"],
        30,
        "hds",
        query_features=data["query_features"],
        database_features=data["database_features"],
        **pool,
    )
    np.testing.assert_array_equal(result.positions, expected)
    np.testing.assert_array_equal(result.pool_sizes, expected_pools)
