"""The multi-label measures of PROTOCOL.md ("Multi-label measures"): NDCG@k, ACG@k and WAP@k,
whose gain is the number of labels an item shares with the query, for every mode and every k of
``precision_at``. Rankings come from ``search``, so ties follow the same stable rule."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ssdh_lightning import metric_names as names
from ssdh_lightning.retrieval.chunks import rows_per_chunk
from ssdh_lightning.retrieval.nearest import search
from ssdh_lightning.retrieval.sets import EvaluationSet
from ssdh_lightning.retrieval.settings import ALL, RetrievalSettings

if TYPE_CHECKING:
    import torch

MEASURES = {"ndcg": names.ndcg_at, "acg": names.acg_at, "wap": names.wap_at}


def graded_measures(gains: np.ndarray, ideal: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per-query NDCG@k, ACG@k and WAP@k of ranked ``gains`` (queries, >= k) and the best
    possible order's gains ``ideal`` (queries, >= k)."""
    gains, ideal = gains[:, :k].astype(np.float64), ideal[:, :k].astype(np.float64)
    ranks = np.arange(1, k + 1)
    discount = 1.0 / np.log2(ranks + 1)
    dcg = ((2.0**gains - 1) * discount).sum(axis=1)
    idcg = ((2.0**ideal - 1) * discount).sum(axis=1)
    acg_at_rank = np.cumsum(gains, axis=1) / ranks
    relevant = gains > 0
    found = relevant.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "ndcg": np.where(idcg > 0, dcg / idcg, 0.0),
            "acg": acg_at_rank[:, -1],
            "wap": np.where(found > 0, (relevant * acg_at_rank).sum(axis=1) / found, 0.0),
        }


def graded_metrics(
    query: EvaluationSet,
    database: EvaluationSet,
    settings: RetrievalSettings,
    database_norms: torch.Tensor | None = None,
) -> dict[str, float]:
    """The means over queries of NDCG@k, ACG@k and WAP@k; ``labels`` are 0/1 (n, classes).
    Codes are best ``PackedCodes`` and ``database_norms`` (ES) given: every chunk and mode
    searches the same database, packed and laid out once (``score_retrieval`` does so)."""
    query_labels = np.asarray(query.labels, dtype=np.float32)
    database_labels = np.asarray(database.labels, dtype=np.float32)
    n_database = len(database_labels)
    depths = {k: n_database if k == ALL else min(int(k), n_database) for k in settings.precision_at}
    top = max(depths.values())
    sums = {
        (mode, measure, k): 0.0 for mode in settings.modes for measure in MEASURES for k in depths
    }
    # the shared-label counts of a chunk against the whole database, and their sorted copy
    step = rows_per_chunk(n_database * 16, settings.memory_budget)
    for start in range(0, len(query_labels), step):
        rows = slice(start, start + step)
        shared = query_labels[rows] @ database_labels.T  # small integers: exact in float32
        ideal = -np.sort(-shared, axis=1)[:, :top]
        for mode in settings.modes:
            ranked = search(
                None if query.codes is None else query.codes[rows],
                database.codes,
                top,
                mode,
                query_features=None if query.features is None else query.features[rows],
                database_features=database.features,
                database_norms=database_norms if mode == "es" else None,
                hds_threshold=settings.hds_threshold,
                hds_pool_size=settings.hds_pool_size,
                memory_budget=settings.memory_budget,
            )
            gains = np.take_along_axis(shared, ranked.positions, axis=1)
            for k, depth in depths.items():
                for measure, values in graded_measures(gains, ideal, depth).items():
                    sums[mode, measure, k] += float(values.sum())
    return {
        MEASURES[measure](mode, k): total / len(query_labels)
        for (mode, measure, k), total in sums.items()
    }
