"""Baseline rows scored by the same ``score_retrieval`` as the trained model, under their names."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from ssdh_lightning import metric_names
from ssdh_lightning.baselines.bre import BRE
from ssdh_lightning.baselines.cca import ITQCCA
from ssdh_lightning.baselines.common import CannotFit
from ssdh_lightning.baselines.hashing import ITQ, LSH
from ssdh_lightning.baselines.ksh import KSH
from ssdh_lightning.baselines.mlh import MLH
from ssdh_lightning.baselines.sdh import SDH
from ssdh_lightning.baselines.spectral import SH
from ssdh_lightning.retrieval import (
    EvaluationSet,
    RetrievalScores,
    RetrievalSettings,
    score_retrieval,
)

log = logging.getLogger(__name__)
V = TypeVar("V")

# Codes of hash_bits from the trained model's database features (and, for the supervised ones,
# the database labels), ranked by Hamming distance.
HASHERS = {
    "lsh": LSH,
    "itq": ITQ,
    "sh": SH,
    "itq_cca": ITQCCA,
    "ksh": KSH,
    "bre": BRE,
    "mlh": MLH,
    "sdh": SDH,
}
# The same hashers fit on the backbone's features before fine-tuning (ImageNet features for a
# pretrained backbone, the untrained network's otherwise), as the paper's shallow rows were fit on
# features that owe nothing to the task: itq_initial, ...
INITIAL_HASHERS = {metric_names.on_initial(method): method for method in HASHERS}
# initial: ES on the backbone's features before fine-tuning (the paper's "ImageNet" row when the
# backbone starts from ImageNet weights).
BASELINES = (*HASHERS, *INITIAL_HASHERS, metric_names.INITIAL)
if BASELINES != metric_names.BASELINES:  # the names module spells them, without importing us
    raise ImportError(f"metric_names.BASELINES must list {BASELINES}")


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


def on_initial_features(methods: Sequence[str]) -> list[str]:
    """The rows of ``methods`` scored on the features before fine-tuning: 'initial' (ES) and
    the hashers' ``*_initial`` rows."""
    return [m for m in methods if m in INITIAL_HASHERS or m == metric_names.INITIAL]


def as_row(values: Mapping[str, V], row: str) -> dict[str, V]:
    """A baseline row's figures (``metrics()`` or ``per_query()`` of its scores, which ranked by
    one mode) under the row's name: ``bcs/map@all`` -> ``lsh/map@all``."""
    return {metric_names.renamed(key, row): value for key, value in values.items()}


def rows_metrics(rows: Mapping[str, RetrievalScores]) -> dict[str, float]:
    """The metrics of baseline rows (``rows``: each row's scores), keyed ``lsh/map@1000``, ..."""
    return {
        key: value
        for row, scores in rows.items()
        for key, value in as_row(scores.metrics(), row).items()
    }


def initial_scores(
    query: EvaluationSet, database: EvaluationSet, settings: RetrievalSettings
) -> dict[str, RetrievalScores]:
    """The 'initial' row: ES on the features and labels of the model before fine-tuning."""
    return {
        metric_names.INITIAL: score_retrieval(
            query, database, settings=replace(settings, modes=("es",))
        )
    }


def initial_metrics(query: EvaluationSet, database: EvaluationSet, settings: RetrievalSettings):
    """The 'initial' row's metrics, keyed ``initial/map@all``, ..."""
    return rows_metrics(initial_scores(query, database, settings))


def fitted_hasher(method: str, database: EvaluationSet, hash_bits: int, seed: int, **options):
    """The hasher ``method`` fitted on the database: its features, and its labels for the
    supervised ones (the queries' labels are never seen); ``options`` change its settings
    (e.g. ``labelled=`` and ``anchors=`` of KSH)."""
    if method not in HASHERS:
        raise ValueError(f"{method!r} is not a hashing baseline; choose among {list(HASHERS)}")
    hasher = HASHERS[method](hash_bits, seed=seed, **options)
    if hasher.supervised:
        return hasher.fit(database.features, database.labels)
    return hasher.fit(database.features)


def hashing_scores(
    methods: Sequence[str],
    query: EvaluationSet,
    database: EvaluationSet,
    hash_bits: int,
    settings: RetrievalSettings,
    seed: int = 0,
    *,
    initial_features: bool = False,
) -> dict[str, RetrievalScores]:
    """The rows of hashing baselines (``lsh``, ``itq``, ``sh``, ``itq_cca``, ``ksh``, ``bre``,
    ``mlh``, ``sdh``), each row's scores by its name:
    codes of ``hash_bits`` learned from the database features given, ranked by Hamming distance;
    rows ``lsh``, ... for the trained model's features, ``lsh_initial``, ... with
    ``initial_features`` (the sides hold the features before fine-tuning). A baseline that
    cannot be fitted on these data is left out with a warning that says why."""
    rows: dict[str, RetrievalScores] = {}
    for method in check_baselines(methods):
        row = metric_names.on_initial(method) if initial_features else method
        try:
            hasher = fitted_hasher(method, database, hash_bits, seed)
        except CannotFit as reason:
            log.warning("baseline %s left out at hash_bits=%d: %s", row, hash_bits, reason)
            continue
        rows[row] = score_retrieval(
            EvaluationSet(query.labels, hasher.encode(query.features)),
            EvaluationSet(database.labels, hasher.encode(database.features)),
            settings=replace(settings, modes=("bcs",)),
        )
    return rows


def hashing_metrics(*args, **options) -> dict[str, float]:
    """``hashing_scores``' rows as metrics, keyed ``lsh/map@1000``, ``lsh_initial/map@1000``,
    ...; the same arguments."""
    return rows_metrics(hashing_scores(*args, **options))
