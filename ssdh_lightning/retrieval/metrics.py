"""``evaluate_retrieval``: BCS, ES and HDS scored exactly as PROTOCOL.md defines them.

Queries are processed in chunks sized by a memory budget; every per-query number is computed in
a fixed order, so results do not depend on the chunk size or the thread count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ssdh_lightning.retrieval import euclidean, kernels
from ssdh_lightning.retrieval.arrays import check_rows, features_array, relevance_labels
from ssdh_lightning.retrieval.chunks import DEFAULT_MEMORY_BUDGET, rows_per_chunk
from ssdh_lightning.retrieval.codes import check_pair, pack_codes
from ssdh_lightning.retrieval.settings import (
    ALL,
    CODE_MODES,
    FEATURE_MODES,
    MODES,
    RetrievalSettings,
    TopK,
)


@dataclass
class ModeScores:
    """Per-query scores of one mode; ``precision_curve[k - 1]`` is the mean precision@k."""

    average_precision: dict[TopK, list[np.ndarray]] = field(default_factory=dict)
    precision: dict[TopK, list[np.ndarray]] = field(default_factory=dict)
    precision_curve_sum: np.ndarray | None = None
    n_queries: int = 0

    @property
    def precision_curve(self) -> np.ndarray:
        return self.precision_curve_sum / self.n_queries

    def mean(self, table: dict[TopK, list[np.ndarray]], k: TopK) -> float:
        return float(np.mean(np.concatenate(table[k])))


@dataclass
class RetrievalScores:
    """Everything one evaluation measured; ``metrics()`` gives the flat dict of stable keys."""

    settings: RetrievalSettings
    n_database: int
    modes: dict[str, ModeScores]
    radius_precision: list[np.ndarray] = field(default_factory=list)
    radius_empty: list[np.ndarray] = field(default_factory=list)
    pool_sizes: list[np.ndarray] = field(default_factory=list)
    pr_precision_sum: np.ndarray | None = None
    pr_recall_sum: np.ndarray | None = None

    @property
    def n_queries(self) -> int:
        return next(iter(self.modes.values())).n_queries

    def pr_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """BCS (precision, recall) within Hamming radius 0..hash_bits, averaged over queries."""
        return self.pr_precision_sum / self.n_queries, self.pr_recall_sum / self.n_queries

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for mode, scores in self.modes.items():
            for k in self.settings.map_at:
                out[f"{mode}/map@{k}"] = scores.mean(scores.average_precision, k)
            for k in self.settings.precision_at:
                out[f"{mode}/precision@{k}"] = scores.mean(scores.precision, k)
        r = self.settings.radius
        if "bcs" in self.modes:
            out[f"bcs/precision_r{r}"] = float(np.mean(np.concatenate(self.radius_precision)))
            out[f"bcs/empty_r{r}"] = float(np.mean(np.concatenate(self.radius_empty)))
        if "hds" in self.modes:
            sizes = np.concatenate(self.pool_sizes)
            out["hds/pool_mean"] = float(np.mean(sizes))
            out["hds/pool_median"] = float(np.median(sizes))
        return out


def evaluate_retrieval(
    query_codes,
    database_codes,
    query_labels,
    database_labels,
    query_features=None,
    database_features=None,
    *,
    modes: Sequence[str] = MODES,
    map_at: Sequence[TopK] = (1000, ALL),
    precision_at: Sequence[TopK] = (1, 10, 100, 1000),
    radius: int = 2,
    hds_threshold: int | None = None,
    hds_pool_size: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> dict[str, float]:
    """Mean retrieval metrics of each mode over all queries, under keys like ``bcs/map@1000``.

    Codes are 0/1 arrays (n, hash_bits) or ``PackedCodes``; labels are class ids (n,) or 0/1
    multi-label matrices (n, classes); features (n, d) are needed by ``es`` and ``hds``.
    AP@k is normalised by the relevant items within the top k (PROTOCOL.md); a k larger than the
    database is clipped to it. The HDS pool holds the items at Hamming distance less than
    ``hds_threshold``, or the ``hds_pool_size`` nearest (1000 when neither is given).
    """
    return score_retrieval(
        query_codes,
        database_codes,
        query_labels,
        database_labels,
        query_features,
        database_features,
        settings=RetrievalSettings(
            modes=modes,
            map_at=map_at,
            precision_at=precision_at,
            radius=radius,
            hds_threshold=hds_threshold,
            hds_pool_size=hds_pool_size,
            memory_budget=memory_budget,
        ),
    ).metrics()


@dataclass
class _Inputs:
    query_words: np.ndarray | None
    database_words: np.ndarray | None
    hash_bits: int
    query_labels: np.ndarray
    database_labels: np.ndarray
    multi_label: bool
    query_features: np.ndarray | None
    database_features: np.ndarray | None
    n_queries: int
    n_database: int


def _prepare(
    settings,
    query_codes,
    database_codes,
    query_labels,
    database_labels,
    query_features,
    database_features,
) -> _Inputs:
    query_labels, query_multi = relevance_labels(query_labels, "query_labels")
    database_labels, database_multi = relevance_labels(database_labels, "database_labels")
    if query_multi != database_multi or query_labels.shape[1] != database_labels.shape[1]:
        raise ValueError(
            "query_labels and database_labels must be of one kind: both class ids (n,) or both "
            "multi-label matrices with the same number of classes"
        )
    n_queries, n_database = len(query_labels), len(database_labels)
    if n_database == 0:
        raise ValueError("the database is empty: there is nothing to rank")
    if n_queries == 0:
        raise ValueError("there are no queries to evaluate")
    query_words = database_words = None
    hash_bits = 0
    if set(settings.modes) & set(CODE_MODES):
        if query_codes is None or database_codes is None:
            raise ValueError(f"modes {settings.modes} need query_codes and database_codes")
        query_packed, database_packed = pack_codes(query_codes), pack_codes(database_codes)
        check_pair(query_packed, database_packed)
        check_rows("query_codes", len(query_packed), "query_labels", n_queries)
        check_rows("database_codes", len(database_packed), "database_labels", n_database)
        query_words, database_words = query_packed.words(), database_packed.words()
        hash_bits = query_packed.hash_bits
    if set(settings.modes) & set(FEATURE_MODES):
        if query_features is None or database_features is None:
            needing = [m for m in settings.modes if m in FEATURE_MODES]
            raise ValueError(
                f"modes {needing} rank by Euclidean distance on features: pass query_features "
                "and database_features, or leave these modes out (modes=('bcs',))"
            )
        query_features = features_array(query_features, "query_features")
        database_features = features_array(database_features, "database_features")
        check_rows("query_features", len(query_features), "query_labels", n_queries)
        check_rows("database_features", len(database_features), "database_labels", n_database)
        if query_features.shape[1] != database_features.shape[1]:
            raise ValueError(
                f"query_features have {query_features.shape[1]} dimensions but "
                f"database_features have {database_features.shape[1]}"
            )
    return _Inputs(
        query_words,
        database_words,
        hash_bits,
        query_labels,
        database_labels,
        query_multi,
        query_features,
        database_features,
        n_queries,
        n_database,
    )


def _chunk_rows(settings: RetrievalSettings, inputs: _Inputs) -> int:
    n, top = inputs.n_database, settings.top(inputs.n_database)
    row = top * (len(settings.modes) + 40)  # hits and the float64 temporaries of _collect
    if inputs.query_words is not None:
        row += n * (1 if inputs.hash_bits < 256 else 2)
    if "es" in settings.modes:
        row += n * 4
    if "hds" in settings.modes:
        row += n * 12 if settings.hds_threshold is not None else settings.pool_rule()[1] * 12
    return rows_per_chunk(row, settings.memory_budget)


def _collect(
    scores: ModeScores,
    settings: RetrievalSettings,
    n_database: int,
    ap_sum: np.ndarray,
    n_relevant: np.ndarray,
    hits: np.ndarray,
) -> None:
    """Turns one chunk's ranked hits into per-query AP@k and precision@k."""
    top = hits.shape[1]
    ranks = np.arange(1, top + 1)
    found = np.cumsum(hits, axis=1, dtype=np.int64)
    ap_at_rank = np.cumsum(hits * (found / ranks), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in settings.map_at:
            if k == ALL:
                value = np.where(n_relevant > 0, ap_sum / n_relevant, 0.0)
            else:
                last = min(k, n_database) - 1
                value = np.where(found[:, last] > 0, ap_at_rank[:, last] / found[:, last], 0.0)
            scores.average_precision.setdefault(k, []).append(value)
    for k in settings.precision_at:
        if k == ALL:
            value = n_relevant / n_database
        else:
            depth = min(k, n_database)
            value = found[:, depth - 1] / depth
        scores.precision.setdefault(k, []).append(value)
    curve = (found / ranks).sum(axis=0)
    scores.precision_curve_sum = (
        curve if scores.precision_curve_sum is None else (scores.precision_curve_sum + curve)
    )
    scores.n_queries += len(hits)


def _pool_sizes(settings: RetrievalSettings, hist: np.ndarray, n_database: int) -> np.ndarray:
    rule, value = settings.pool_rule()
    if rule == "threshold":
        return hist[:, : min(value, hist.shape[1])].sum(axis=1)
    return np.full(len(hist), min(value, n_database), dtype=np.int64)


def _radius_scores(scores: RetrievalScores, hist, hist_rel, n_relevant) -> None:
    within = np.cumsum(hist, axis=1)
    within_rel = np.cumsum(hist_rel, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(within > 0, within_rel / within, 0.0)
        recall = np.where(n_relevant[:, None] > 0, within_rel / n_relevant[:, None], 0.0)
    r = min(scores.settings.radius, hist.shape[1] - 1)
    scores.radius_precision.append(precision[:, r])
    scores.radius_empty.append((within[:, r] == 0).astype(np.float64))
    for name, values in (("pr_precision_sum", precision), ("pr_recall_sum", recall)):
        total = getattr(scores, name)
        setattr(scores, name, values.sum(axis=0) if total is None else total + values.sum(axis=0))


def score_retrieval(
    query_codes,
    database_codes,
    query_labels,
    database_labels,
    query_features=None,
    database_features=None,
    *,
    settings: RetrievalSettings | None = None,
) -> RetrievalScores:
    """Like ``evaluate_retrieval``, keeping per-query scores and the curves for plots."""
    settings = settings or RetrievalSettings()
    inputs = _prepare(
        settings,
        query_codes,
        database_codes,
        query_labels,
        database_labels,
        query_features,
        database_features,
    )
    n = inputs.n_database
    top = settings.top(n)
    result = RetrievalScores(settings, n, {mode: ModeScores() for mode in settings.modes})
    if "es" in settings.modes:
        database_norms = euclidean.squared_norms(inputs.database_features, settings.memory_budget)
    step = _chunk_rows(settings, inputs)
    for start in range(0, inputs.n_queries, step):
        rows = slice(start, min(start + step, inputs.n_queries))
        query_labels_chunk = inputs.query_labels[rows]
        labels = (query_labels_chunk, inputs.database_labels, inputs.multi_label)
        if inputs.query_words is not None:
            _score_hamming(result, settings, inputs, rows, labels, top)
        if "es" in settings.modes:
            distances = euclidean.squared_distances(
                inputs.query_features[rows],
                inputs.database_features,
                database_norms,
                settings.memory_budget,
            ).numpy()
            hits = np.zeros((len(distances), top), dtype=np.uint8)
            ap_sum = np.empty(len(distances))
            n_relevant = np.empty(len(distances), dtype=np.int64)
            kernels.distance_ranks(distances, *labels, hits, ap_sum, n_relevant)
            _collect(result.modes["es"], settings, n, ap_sum, n_relevant, hits)
    return result


def _score_hamming(result, settings, inputs: _Inputs, rows, labels, top) -> None:
    """BCS and HDS of one chunk of queries from one Hamming distance matrix."""
    n = inputs.n_database
    query_words = inputs.query_words[rows]
    distances = np.empty(
        (len(query_words), n), dtype=np.uint8 if inputs.hash_bits < 256 else np.uint16
    )
    kernels.hamming_matrix(query_words, inputs.database_words, distances)
    hist = np.zeros((len(query_words), inputs.hash_bits + 1), dtype=np.int64)
    hist_rel = np.zeros_like(hist)
    kernels.hamming_histograms(distances, *labels, hist, hist_rel)
    n_relevant = hist_rel.sum(axis=1)
    with_hds = "hds" in settings.modes
    pool_sizes = _pool_sizes(settings, hist, n) if with_hds else np.zeros(len(hist), np.int64)
    pool_offsets = np.concatenate(([0], np.cumsum(pool_sizes)))
    pool_items = np.empty(pool_offsets[-1], dtype=np.int64)
    hits = np.zeros((len(query_words), top), dtype=np.uint8)
    inside, outside = np.empty(len(hits)), np.empty(len(hits))
    kernels.hamming_ranks(
        distances,
        *labels,
        hist,
        hist_rel,
        pool_sizes,
        pool_offsets,
        pool_items,
        hits,
        inside,
        outside,
    )
    del distances
    if "bcs" in settings.modes:
        _collect(result.modes["bcs"], settings, n, inside + outside, n_relevant, hits)
        _radius_scores(result, hist, hist_rel, n_relevant)
    if with_hds:
        result.pool_sizes.append(pool_sizes)
        hits[np.arange(top) < pool_sizes[:, None]] = 0  # the pool is re-ranked below
        pool_distances = euclidean.pool_squared_distances(
            inputs.query_features[rows], inputs.database_features, pool_items, pool_offsets
        )
        pool_sum = np.empty(len(hits))
        kernels.pool_ranks(pool_distances, pool_items, pool_offsets, *labels, hits, pool_sum)
        _collect(result.modes["hds"], settings, n, pool_sum + outside, n_relevant, hits)
