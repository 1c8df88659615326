"""``evaluate_retrieval``: BCS, ES and HDS scored exactly as PROTOCOL.md defines them.

Queries are processed in chunks sized by a memory budget; every per-query number is computed in
a fixed order, so results do not depend on the chunk size or the thread count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ssdh_lightning import metric_names as names
from ssdh_lightning.retrieval import euclidean, kernels, pools
from ssdh_lightning.retrieval.arrays import (
    check_feature_dims,
    check_rows,
    features_array,
    narrow_class_ids,
    relevance_labels,
)
from ssdh_lightning.retrieval.chunks import DEFAULT_MEMORY_BUDGET, rows_per_chunk
from ssdh_lightning.retrieval.codes import check_pair, pack_codes
from ssdh_lightning.retrieval.graded import graded_metrics
from ssdh_lightning.retrieval.sets import EvaluationSet
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
    relevant_at_rank: np.ndarray | None = None  # queries with a relevant item at each rank
    n_queries: int = 0
    # Hamming rankings with settings.tie_figures: AP@k by tie figure (tie_avg, tie_best,
    # tie_worst), and the expected precision@k, over the orders inside ties
    tie_average_precision: dict[str, dict[TopK, list[np.ndarray]]] = field(default_factory=dict)
    tie_precision: dict[TopK, list[np.ndarray]] = field(default_factory=dict)

    @property
    def precision_curve(self) -> np.ndarray:
        ranks = np.arange(1, len(self.relevant_at_rank) + 1)
        return np.cumsum(self.relevant_at_rank) / ranks / self.n_queries

    def mean(self, table: dict[TopK, list[np.ndarray]], k: TopK) -> float:
        return float(np.mean(np.concatenate(table[k])))

    def per_query(self, mode: str, settings: RetrievalSettings) -> dict[str, np.ndarray]:
        """Every query's AP@k and precision@k, in query order, keyed ``bcs/map@1000``, ..."""
        return {
            **{
                names.map_at(mode, k): np.concatenate(self.average_precision[k])
                for k in settings.map_at
            },
            **{
                names.precision_at(mode, k): np.concatenate(self.precision[k])
                for k in settings.precision_at
            },
        }


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
    graded: dict[str, float] = field(default_factory=dict)  # multi-label data only (graded.py)

    @property
    def n_queries(self) -> int:
        return next(iter(self.modes.values())).n_queries

    def pr_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """BCS (precision, recall) within Hamming radius 0..hash_bits, averaged over queries."""
        return self.pr_precision_sum / self.n_queries, self.pr_recall_sum / self.n_queries

    def per_query(self) -> dict[str, np.ndarray]:
        """The per-query figures whose means ``metrics()`` gives as mAP@k and precision@k: each
        query's AP@k and precision@k of each mode, in query order, under the same keys."""
        out: dict[str, np.ndarray] = {}
        for mode, scores in self.modes.items():
            out |= scores.per_query(mode, self.settings)
        return out

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for mode, scores in self.modes.items():
            for k in self.settings.map_at:
                out[names.map_at(mode, k)] = scores.mean(scores.average_precision, k)
            for k in self.settings.precision_at:
                out[names.precision_at(mode, k)] = scores.mean(scores.precision, k)
            out |= _tie_means(mode, scores, self.settings)
        r = self.settings.radius
        if "bcs" in self.modes:
            precision = np.concatenate(self.radius_precision)
            out[names.radius_precision("bcs", r)] = float(np.mean(precision))
            out[names.radius_empty("bcs", r)] = float(np.mean(np.concatenate(self.radius_empty)))
        if "hds" in self.modes:
            sizes = np.concatenate(self.pool_sizes)
            out[names.pool_mean()] = float(np.mean(sizes))
            out[names.pool_median()] = float(np.median(sizes))
        out.update(self.graded)
        return out


def _tie_means(mode: str, scores: ModeScores, settings: RetrievalSettings) -> dict[str, float]:
    out = {}
    for figure, table in scores.tie_average_precision.items():
        for k in settings.map_at:
            out[names.tie_figure(names.map_at(mode, k), figure)] = scores.mean(table, k)
    for k in scores.tie_precision:
        key = names.tie_figure(names.precision_at(mode, k), names.TIE_AVG)
        out[key] = scores.mean(scores.tie_precision, k)
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
    tie_figures: bool = False,
) -> dict[str, float]:
    """Mean retrieval metrics of each mode over all queries, under keys like ``bcs/map@1000``:
    ``score_retrieval`` of the two sides, with the settings as keywords (its docstring says all).
    """
    return score_retrieval(
        EvaluationSet(query_labels, query_codes, query_features),
        EvaluationSet(database_labels, database_codes, database_features),
        settings=RetrievalSettings(
            modes=modes,
            map_at=map_at,
            precision_at=precision_at,
            radius=radius,
            hds_threshold=hds_threshold,
            hds_pool_size=hds_pool_size,
            memory_budget=memory_budget,
            tie_figures=tie_figures,
        ),
    ).metrics()


@dataclass
class _Inputs:
    query_words: np.ndarray | None  # (n, words)
    database_columns: np.ndarray | None  # (words, n): see retrieval/kernels
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
    if not query_multi:
        query_labels, database_labels = narrow_class_ids(query_labels, database_labels)
    query_words = database_columns = None
    hash_bits = 0
    if set(settings.modes) & set(CODE_MODES):
        if query_codes is None or database_codes is None:
            raise ValueError(f"modes {settings.modes} need query_codes and database_codes")
        query_packed, database_packed = pack_codes(query_codes), pack_codes(database_codes)
        check_pair(query_packed, database_packed)
        check_rows("query_codes", len(query_packed), "query_labels", n_queries)
        check_rows("database_codes", len(database_packed), "database_labels", n_database)
        query_words = query_packed.words()
        database_columns = database_packed.columns
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
        check_feature_dims(query_features, database_features)
    return _Inputs(
        query_words,
        database_columns,
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
    """Queries a chunk may hold; the kernels' own buffers are per thread, not per query."""
    n, top = inputs.n_database, settings.top(inputs.n_database)
    row = top * 2 * len(settings.modes) + (inputs.hash_bits + 1) * 16  # hits, histograms
    row += 4 * 8 * len(_tie_cutoffs(settings, n)) if settings.tie_figures else 0
    if "es" in settings.modes:
        row += n * 4
    if "hds" in settings.modes:
        row += n * 12 if settings.hds_threshold is not None else settings.pool_rule()[1] * 12
    return rows_per_chunk(row, settings.memory_budget)


def _cutoffs(settings: RetrievalSettings, n_database: int) -> np.ndarray:
    """The distinct ranks that the top-k metrics cut at, ascending, the deepest last."""
    ks = {min(k, n_database) for k in (*settings.map_at, *settings.precision_at) if k != ALL}
    return np.array(sorted(ks | {settings.top(n_database)}), dtype=np.int64)


def _new_scores(n_queries: int, cutoffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-query accumulators the kernels fill: (stats, hits), see retrieval/kernels."""
    stats = np.zeros((n_queries, kernels.STATS_CUTOFFS + 2 * cutoffs.size))
    return stats, np.zeros((n_queries, cutoffs[-1]), dtype=np.uint8)


def _collect(scores: ModeScores, settings: RetrievalSettings, n_database: int, chunk, cutoffs):
    """Per-query AP@k and precision@k of one chunk's accumulators."""
    stats, hits = chunk
    ap_sum, n_relevant = stats[:, kernels.STATS_AP_SUM], stats[:, kernels.STATS_RELEVANT]
    ap_at = stats[:, kernels.STATS_CUTOFFS : kernels.STATS_CUTOFFS + cutoffs.size]
    found_at = stats[:, kernels.STATS_CUTOFFS + cutoffs.size :]
    position = {int(k): t for t, k in enumerate(cutoffs)}
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in settings.map_at:
            if k == ALL:
                value = np.where(n_relevant > 0, ap_sum / n_relevant, 0.0)
            else:
                t = position[min(k, n_database)]
                value = np.where(found_at[:, t] > 0, ap_at[:, t] / found_at[:, t], 0.0)
            scores.average_precision.setdefault(k, []).append(value)
    for k in settings.precision_at:
        if k == ALL:
            value = n_relevant / n_database
        else:
            depth = min(k, n_database)
            value = found_at[:, position[depth]] / depth
        scores.precision.setdefault(k, []).append(value)
    at_rank = hits.sum(axis=0, dtype=np.int64)
    scores.relevant_at_rank = (
        at_rank if scores.relevant_at_rank is None else (scores.relevant_at_rank + at_rank)
    )
    scores.n_queries += len(hits)


def _tie_cutoffs(settings: RetrievalSettings, n_database: int) -> dict[TopK, int]:
    """Each k of mAP@k and precision@k, and the rank it cuts at (the database for 'all')."""
    return {
        k: n_database if k == ALL else min(k, n_database)
        for k in (*settings.map_at, *settings.precision_at)
    }


def _collect_ties(scores: ModeScores, settings, hist, hist_rel, harmonic) -> None:
    """Per-query figures over the orders inside ties of one chunk's Hamming rankings."""
    depth = _tie_cutoffs(settings, len(harmonic) - 1)
    cutoffs = np.array(sorted(set(depth.values())), dtype=np.int64)
    tables = {
        figure: np.empty((len(hist), cutoffs.size))
        for figure in (names.TIE_AVG, names.TIE_BEST, names.TIE_WORST, "precision")
    }
    kernels.tie_scores(hist, hist_rel, cutoffs, harmonic, *tables.values())
    column = {int(k): t for t, k in enumerate(cutoffs)}
    for figure in (names.TIE_AVG, names.TIE_BEST, names.TIE_WORST):
        by_k = scores.tie_average_precision.setdefault(figure, {})
        for k in settings.map_at:
            by_k.setdefault(k, []).append(tables[figure][:, column[depth[k]]])
    for k in settings.precision_at:
        scores.tie_precision.setdefault(k, []).append(tables["precision"][:, column[depth[k]]])


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
    query: EvaluationSet, database: EvaluationSet, *, settings: RetrievalSettings | None = None
) -> RetrievalScores:
    """Every query ranked against the database in each mode of ``settings``, scored: per-query
    scores, curves, and ``.metrics()``, the means under keys like ``bcs/map@1000``.

    Codes are 0/1 arrays (n, hash_bits) or ``PackedCodes``; labels are class ids (n,) or 0/1
    multi-label matrices (n, classes); features (n, d) are needed by ``es`` and ``hds``.
    AP@k is normalised by the relevant items within the top k (PROTOCOL.md); a k larger than the
    database is clipped to it. The HDS pool holds the items at Hamming distance less than
    ``hds_threshold``, or the ``hds_pool_size`` nearest (1000 when neither is given). With
    ``tie_figures``, BCS also gets mAP@k over the orders inside ties of Hamming distance, its
    expectation, best and worst (``bcs/map@1000_tie_avg``, ``_tie_best``, ``_tie_worst``), and
    the expected precision@k (``bcs/precision@100_tie_avg``); see kernels/ties.py.
    """
    settings = settings or RetrievalSettings()
    inputs = _prepare(
        settings,
        query.codes,
        database.codes,
        query.labels,
        database.labels,
        query.features,
        database.features,
    )
    n = inputs.n_database
    cutoffs = _cutoffs(settings, n)
    result = RetrievalScores(settings, n, {mode: ModeScores() for mode in settings.modes})
    if "es" in settings.modes:
        database_norms = euclidean.squared_norms(inputs.database_features, settings.memory_budget)
    harmonic = kernels.harmonic_numbers(n) if settings.tie_figures else None
    step = _chunk_rows(settings, inputs)
    for start in range(0, inputs.n_queries, step):
        rows = slice(start, min(start + step, inputs.n_queries))
        labels = (inputs.query_labels[rows], inputs.database_labels, inputs.multi_label)
        if inputs.query_words is not None:
            _score_hamming(result, settings, inputs, rows, labels, cutoffs, harmonic)
        if "es" in settings.modes:
            distances = euclidean.squared_distances(
                inputs.query_features[rows],
                inputs.database_features,
                database_norms,
                settings.memory_budget,
            ).numpy()
            chunk = _new_scores(len(distances), cutoffs)
            kernels.distance_scores(distances, *labels, cutoffs, *chunk)
            _collect(result.modes["es"], settings, n, chunk, cutoffs)
    if inputs.multi_label:
        result.graded = graded_metrics(query, database, settings)
    return result


def _score_hamming(result, settings, inputs: _Inputs, rows, labels, cutoffs, harmonic) -> None:
    """BCS and HDS of one chunk of queries from one scan of the database per query; the BCS
    figures over the orders inside ties from its counts per distance (``harmonic``: H(0..n))."""
    n_queries = rows.stop - rows.start
    with_hds = "hds" in settings.modes
    if with_hds:
        pool_sizes = pools.pool_sizes(settings, inputs.query_words[rows], inputs.database_columns)
    else:
        pool_sizes = np.zeros(n_queries, dtype=np.int64)
    pool_offsets = np.concatenate(([0], np.cumsum(pool_sizes)))
    pool_items = np.empty(pool_offsets[-1], dtype=np.int64)
    bcs, outside_pool = _new_scores(n_queries, cutoffs), _new_scores(n_queries, cutoffs)
    hist = np.zeros((n_queries, inputs.hash_bits + 1), dtype=np.int64)
    hist_rel = np.zeros_like(hist)
    query_labels, database_labels, multi_label = labels
    # By name: 17 arrays, many of one dtype, that a swap would turn into wrong numbers silently.
    kernels.hamming_scores(
        query_words=inputs.query_words[rows],
        database_columns=inputs.database_columns,
        query_labels=query_labels,
        database_labels=database_labels,
        multi_label=multi_label,
        cutoffs=cutoffs,
        pool_sizes=pool_sizes,
        pool_offsets=pool_offsets,
        pool_items=pool_items,
        bcs_stats=bcs[0],
        bcs_hits=bcs[1],
        outside_stats=outside_pool[0],
        outside_hits=outside_pool[1],
        hist=hist,
        hist_rel=hist_rel,
        pooled=with_hds,
        n_groups=kernels.query_groups(n_queries),
    )
    if "bcs" in settings.modes:
        _collect(result.modes["bcs"], settings, inputs.n_database, bcs, cutoffs)
        _radius_scores(result, hist, hist_rel, bcs[0][:, kernels.STATS_RELEVANT])
        if settings.tie_figures:
            _collect_ties(result.modes["bcs"], settings, hist, hist_rel, harmonic)
    if with_hds:
        result.pool_sizes.append(pool_sizes)
        pool_distances = euclidean.pool_squared_distances(
            inputs.query_features[rows], inputs.database_features, pool_items, pool_offsets
        )
        kernels.pool_scores(
            pool_distances, pool_items, pool_offsets, *labels, cutoffs, *outside_pool
        )
        _collect(result.modes["hds"], settings, inputs.n_database, outside_pool, cutoffs)
