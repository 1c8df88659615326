"""NDCG@k, ACG@k and WAP@k (PROTOCOL.md, "Multi-label measures") on a case worked by hand; the
hypothesis test of test_retrieval_metrics.py holds the engine to the per-query reference."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from ssdh_lightning.retrieval import (
    EvaluationSet,
    PackedCodes,
    RetrievalSettings,
    score_retrieval,
)

# Query 0 shares 2, 0, 1 and 0 labels with database items 0..3; query 1 shares none.
QUERY_LABELS = np.array([[1, 1, 0], [0, 0, 1]], dtype=np.uint8)
DATABASE_LABELS = np.array([[1, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0]], dtype=np.uint8)
# Hamming distances 2, 1, 0, 3 from both queries: the ranking is items 2, 1, 0, 3.
QUERY_CODES = np.zeros((2, 3), dtype=np.uint8)
DATABASE_CODES = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1]], dtype=np.uint8)


def scores(labels=(QUERY_LABELS, DATABASE_LABELS)) -> dict[str, float]:
    settings = RetrievalSettings(modes=("bcs",), map_at=("all",), precision_at=(1, 3, 10))
    query = EvaluationSet(labels[0], QUERY_CODES)
    database = EvaluationSet(labels[1], DATABASE_CODES)
    return score_retrieval(query, database, settings=settings).metrics()


def test_measures_of_a_ranking_worked_by_hand():
    metrics = scores()
    # ranked gains of query 0: 1, 0, 2, 0; best order: 2, 1, 0, 0; query 1 scores 0 throughout
    ndcg_3 = (1 + 3 / math.log2(4)) / (3 + 1 / math.log2(3))
    expected = {
        "bcs/ndcg@1": 1 / 3,
        "bcs/acg@1": 1.0,
        "bcs/wap@1": 1.0,
        "bcs/ndcg@3": ndcg_3,
        "bcs/acg@3": 1.0,
        "bcs/wap@3": (1 + 3 / 3) / 2,
        "bcs/ndcg@10": ndcg_3,  # k past the database is clipped to its 4 items
        "bcs/acg@10": 3 / 4,
        "bcs/wap@10": 1.0,
    }
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value / 2, abs=1e-12), key


def test_single_label_data_has_no_graded_measures():
    metrics = scores((np.array([0, 1]), np.array([0, 1, 0, 2])))
    assert "bcs/map@all" in metrics
    assert not [key for key in metrics if key.split("/")[1].startswith(("ndcg", "acg", "wap"))]


def test_an_evaluation_lays_the_database_out_once(monkeypatch):
    """Every mode, every chunk of queries and the multi-label measures search one packed
    database; its word layout is made once (it was made again per chunk and mode)."""
    layouts = []
    laid_out = PackedCodes.columns.func

    def counted(codes: PackedCodes) -> np.ndarray:
        layouts.append(len(codes))
        return laid_out(codes)

    layout = functools.cached_property(counted)
    layout.__set_name__(PackedCodes, "columns")
    monkeypatch.setattr(PackedCodes, "columns", layout)
    rng = np.random.default_rng(0)
    labels = [(rng.random((n, 5)) < 0.3).astype(np.uint8) for n in (40, 300)]
    codes = [rng.random((n, 24)) < 0.5 for n in (40, 300)]
    features = [rng.random((n, 6), dtype=np.float32) for n in (40, 300)]
    settings = RetrievalSettings(precision_at=(1, 10), memory_budget=4096)  # many chunks
    query, database = (EvaluationSet(*side) for side in zip(labels, codes, features, strict=True))
    metrics = score_retrieval(query, database, settings=settings).metrics()
    assert layouts == [300]
    unpacked = EvaluationSet(labels[0], codes[0].astype(np.uint8), features[0])
    assert score_retrieval(unpacked, database, settings=settings).metrics() == metrics
