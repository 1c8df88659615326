"""PROTOCOL.md written out per query, the way public hashing code does it: slow and plain.

For each query: the distances to every database item, a stable argsort of the whole database,
then the sums. The tests hold the engine to it and the benchmarks time the engine against it.
"""

from __future__ import annotations

import numpy as np

from ssdh_lightning import metric_names as names
from ssdh_lightning.retrieval.settings import ALL, DEFAULT_HDS_POOL_SIZE, RetrievalSettings


def relevance(query_label: np.ndarray, database_labels: np.ndarray) -> np.ndarray:
    """Which database items are relevant to the query (PROTOCOL.md, "Relevance"): the same class
    id, or, for multi-hot labels, at least one class in common."""
    if database_labels.ndim == 1:
        return database_labels == query_label
    return (database_labels.astype(bool) & query_label.astype(bool)).any(axis=1)


def _average_precision(relevant_ranked: np.ndarray, k: int) -> float:
    top = relevant_ranked[:k].astype(np.float64)
    found = top.sum()
    if found == 0:
        return 0.0
    precision_at_i = np.cumsum(top) / np.arange(1, len(top) + 1)
    return float((top * precision_at_i).sum() / found)


def _graded(gains_ranked: np.ndarray, gains_ideal: np.ndarray, k: int) -> dict[str, float]:
    """NDCG@k, ACG@k and WAP@k of one query, term by term as PROTOCOL.md writes them."""
    dcg = idcg = cumulative = weighted = 0.0
    found = 0
    for i in range(1, k + 1):
        gain = float(gains_ranked[i - 1])
        dcg += (2.0**gain - 1) / np.log2(i + 1)
        idcg += (2.0 ** float(gains_ideal[i - 1]) - 1) / np.log2(i + 1)
        cumulative += gain
        if gain > 0:
            found += 1
            weighted += cumulative / i  # rel_i * ACG@i
    return {
        "ndcg": dcg / idcg if idcg > 0 else 0.0,
        "acg": cumulative / k,
        "wap": weighted / found if found else 0.0,
    }


GRADED = {"ndcg": names.ndcg_at, "acg": names.acg_at, "wap": names.wap_at}


def _euclidean(query_features: np.ndarray, database_features: np.ndarray) -> np.ndarray:
    differences = database_features - query_features
    return (differences * differences).sum(axis=1, dtype=np.float64)


def _rankings(settings, codes_q, codes_db, feats_q, feats_db) -> dict[str, np.ndarray]:
    rankings = {}
    if codes_q is not None:
        hamming = np.count_nonzero(codes_q != codes_db, axis=1)
        bcs = np.argsort(hamming, kind="stable")
        rankings["bcs"] = bcs
        rankings["hamming"] = hamming
    if "es" in settings.modes:
        rankings["es"] = np.argsort(_euclidean(feats_q, feats_db), kind="stable")
    if "hds" in settings.modes:
        if settings.hds_threshold is not None:
            in_pool = hamming < settings.hds_threshold
        else:
            in_pool = np.zeros(len(hamming), dtype=bool)
            in_pool[bcs[: settings.hds_pool_size or DEFAULT_HDS_POOL_SIZE]] = True
        pool = np.flatnonzero(in_pool)
        pool = pool[np.argsort(_euclidean(feats_q, feats_db[pool]), kind="stable")]
        rankings["hds"] = np.concatenate([pool, bcs[~in_pool[bcs]]])
        rankings["hds_pool"] = np.array(len(pool))
    return rankings


def reference_retrieval(
    query_codes,
    database_codes,
    query_labels,
    database_labels,
    query_features=None,
    database_features=None,
    *,
    settings: RetrievalSettings | None = None,
) -> dict[str, float]:
    """The metrics of ``evaluate_retrieval``, computed one query at a time.

    Codes are 0/1 arrays. Euclidean distances are summed in float64 here but in float32 by the
    engine, so compare the two on features whose arithmetic is exact in float32 (small integers,
    or multiples of a power of two) if near-ties must rank alike.
    """
    settings = settings or RetrievalSettings()
    n_database = len(database_labels)
    sums: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        sums.setdefault(key, []).append(value)

    for a in range(len(query_labels)):
        rankings = _rankings(
            settings,
            None if query_codes is None else query_codes[a],
            database_codes,
            None if query_features is None else query_features[a],
            database_features,
        )
        relevant = relevance(query_labels[a], database_labels)
        multi_label = database_labels.ndim == 2
        if multi_label:  # the gain of an item: the labels it shares with the query
            gains = (database_labels.astype(np.int64) & query_labels[a].astype(np.int64)).sum(1)
            gains_ideal = np.sort(gains)[::-1]
        for mode in settings.modes:
            relevant_ranked = relevant[rankings[mode]]
            for k in settings.map_at:
                depth = n_database if k == ALL else min(k, n_database)
                add(names.map_at(mode, k), _average_precision(relevant_ranked, depth))
            for k in settings.precision_at:
                depth = n_database if k == ALL else min(k, n_database)
                add(names.precision_at(mode, k), relevant_ranked[:depth].sum() / depth)
                if multi_label:
                    graded = _graded(gains[rankings[mode]], gains_ideal, depth)
                    for measure, value in graded.items():
                        add(GRADED[measure](mode, k), value)
        if "bcs" in settings.modes:
            ball = rankings["hamming"] <= settings.radius
            r = settings.radius
            add(names.radius_precision("bcs", r), relevant[ball].mean() if ball.any() else 0.0)
            add(names.radius_empty("bcs", r), float(not ball.any()))
        if "hds" in settings.modes:
            add("hds/pool_sizes", float(rankings["hds_pool"]))
    out = {key: float(np.mean(values)) for key, values in sums.items() if key != "hds/pool_sizes"}
    if "hds" in settings.modes:
        out[names.pool_mean()] = float(np.mean(sums["hds/pool_sizes"]))
        out[names.pool_median()] = float(np.median(sums["hds/pool_sizes"]))
    return out
