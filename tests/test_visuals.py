"""The example grid that the loggers show (callbacks/visuals.py): each result is framed green
when it is relevant to its query as PROTOCOL.md defines relevance, red when it is not."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ssdh_lightning.callbacks.retrieval import RetrievalEvaluation
from ssdh_lightning.callbacks.visuals import CORRECT, WRONG, RetrievalVisuals
from ssdh_lightning.retrieval import EvaluationSet, pack_codes

SIZE = 12  # pixels of a tile; the grid pads each with 2


def frames(query_labels: np.ndarray, database_labels: np.ndarray) -> list[tuple[int, ...]]:
    """The frame colour of each result of the one query, in rank order (database order here:
    every item has the query's code, so ties keep database order)."""
    n = len(database_labels)
    images = [(torch.full((1, 8, 8), 100, dtype=torch.uint8), 0)] * n
    trainer = SimpleNamespace(datamodule=SimpleNamespace(splits=SimpleNamespace(
        query=images[:1], database=images
    )))  # fmt: skip
    evaluation = RetrievalEvaluation({"modes": ["bcs"]})
    codes = np.zeros((n, 8), dtype=bool)
    evaluation.query = EvaluationSet(query_labels, pack_codes(codes[:1]), positions=np.arange(1))
    evaluation.database = EvaluationSet(database_labels, pack_codes(codes), positions=np.arange(n))
    visuals = RetrievalVisuals(n_queries=1, top=n, thumbnail=SIZE)
    grid = visuals._examples(trainer, evaluation, evaluation.database.codes, "bcs")
    step = SIZE + 2
    return [tuple(grid[:, 2 + 1, 2 + step * (1 + r) + SIZE // 2].tolist()) for r in range(n)]


def test_a_multi_hot_result_sharing_a_class_is_framed_green():
    query = np.array([[1, 1, 0, 0]], dtype=np.uint8)
    database = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0]])
    expected = [CORRECT, CORRECT, CORRECT, WRONG, WRONG]  # equal, one shared, one shared, none
    assert frames(query, database.astype(np.uint8)) == expected


@pytest.mark.parametrize("query", [2, -1])
def test_a_class_id_result_is_green_when_its_class_is_the_querys(query):
    database = np.array([2, 0, 2, -1])
    expected = [CORRECT if label == query else WRONG for label in database]
    assert frames(np.array([query]), database) == expected
