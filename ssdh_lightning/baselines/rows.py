"""Baseline rows scored by the same ``score_retrieval`` as the trained model, under their names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from ssdh_lightning.baselines.hashing import ITQ, LSH
from ssdh_lightning.retrieval import RetrievalSettings, score_retrieval

# lsh and itq: codes of hash_bits from the trained model's features, ranked by Hamming distance;
# initial: ES on the backbone's features before fine-tuning (the paper's "ImageNet" row when the
# backbone starts from ImageNet weights).
BASELINES = ("lsh", "itq", "initial")
HASHERS = {"lsh": LSH, "itq": ITQ}


def check_baselines(methods: Sequence[str]) -> list[str]:
    """The baseline names, checked (a typo should stop a run before it trains, not after)."""
    methods = list(methods)
    unknown = [m for m in methods if m not in BASELINES]
    if unknown:
        raise ValueError(
            f"baselines={methods}: unknown {unknown}; choose among {', '.join(BASELINES)} "
            "(baselines=[] for none)"
        )
    return methods


def _renamed(metrics: Mapping[str, float], mode: str, method: str) -> dict[str, float]:
    return {
        f"{method}/{key.partition('/')[2]}": value
        for key, value in metrics.items()
        if key.startswith(f"{mode}/")
    }


def initial_metrics(initial: Mapping[str, np.ndarray], settings: RetrievalSettings):
    """The 'initial' row: ES on the query_/database_ features and labels of the model before
    fine-tuning, keyed ``initial/map@all``, ..."""
    scores = score_retrieval(
        None,
        None,
        initial["query_labels"],
        initial["database_labels"],
        initial["query_features"],
        initial["database_features"],
        settings=replace(settings, modes=("es",)),
    )
    return _renamed(scores.metrics(), "es", "initial")


def hashing_metrics(
    methods: Sequence[str],
    final: Mapping[str, np.ndarray],
    hash_bits: int,
    settings: RetrievalSettings,
    seed: int = 0,
) -> dict[str, float]:
    """The rows of hashing baselines (``lsh``, ``itq``): codes of ``hash_bits`` learned from the
    trained model's database features, ranked by Hamming distance; keyed ``lsh/map@1000``, ..."""
    metrics: dict[str, float] = {}
    for method in check_baselines(methods):
        if method not in HASHERS:
            raise ValueError(f"{method!r} is not a hashing baseline; choose among {list(HASHERS)}")
        hasher = HASHERS[method](hash_bits, seed=seed).fit(final["database_features"])
        scores = score_retrieval(
            hasher.encode(final["query_features"]),
            hasher.encode(final["database_features"]),
            final["query_labels"],
            final["database_labels"],
            settings=replace(settings, modes=("bcs",)),
        )
        metrics |= _renamed(scores.metrics(), "bcs", method)
    return metrics
