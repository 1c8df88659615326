"""Seeded splits of PROTOCOL.md: the same seed gives the same split on every machine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def check_query_fraction(query_fraction: float) -> float:
    if not 0 < query_fraction < 1:
        raise ValueError(
            f"data.query_fraction must lie strictly between 0 and 1, got {query_fraction!r}"
        )
    return query_fraction


def stratified_split(
    labels: np.ndarray, query_fraction: float, seed: int | np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(query, database) positions: ``query_fraction`` of every class becomes queries.

    Both are sorted, disjoint and cover every position; no query is in the database.
    """
    check_query_fraction(query_fraction)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    queries = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = round(query_fraction * len(members))
        queries.append(rng.choice(members, size=count, replace=False))
    query = np.sort(np.concatenate(queries))
    database = np.setdiff1d(np.arange(len(labels)), query)
    return query, database


def per_class_sample(
    labels: np.ndarray, per_class: int, seed: int | np.random.Generator
) -> np.ndarray:
    """Sorted positions of ``per_class`` items drawn from each class, seeded."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < per_class:
            raise ValueError(
                f"class {label} has {len(members)} items, fewer than the {per_class} asked for"
            )
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def positions_in(sorted_items: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Each of ``items``' position in ``sorted_items`` (ascending, distinct), -1 where absent."""
    found = np.searchsorted(sorted_items, items).clip(max=max(len(sorted_items) - 1, 0))
    hit = len(sorted_items) > 0 and sorted_items[found] == items
    return np.where(hit, found, -1)


@dataclass(frozen=True)
class ProtocolSplit:
    """Positions of the three sets of PROTOCOL.md in one pool of images."""

    query: np.ndarray
    database: np.ndarray
    train: np.ndarray

    def database_training_positions(self) -> np.ndarray:
        """Each database item's position in ``train``, -1 for an item not in it."""
        return positions_in(self.train, self.database)


# The ``cnnh`` protocol of CIFAR-10 (PROTOCOL.md): queries and training images a class.
CNNH_QUERIES_PER_CLASS, CNNH_TRAIN_PER_CLASS = 100, 500


def cnnh_split(labels: np.ndarray, seed: int) -> ProtocolSplit:
    """``cnnh``: 100 queries a class from the whole pool, the rest is the database, and 500 a
    class of the database are the training set. Seeded; no query is in the database."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    query = per_class_sample(labels, CNNH_QUERIES_PER_CLASS, rng)
    database = np.setdiff1d(np.arange(len(labels)), query)
    train = database[per_class_sample(labels[database], CNNH_TRAIN_PER_CLASS, rng)]
    return ProtocolSplit(query=query, database=database, train=train)
