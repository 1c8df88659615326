"""A run's per-query figures: each query's AP@k and precision@k of every row the run scored.

One ``.npz`` beside ``metrics.json`` (``run_files.PER_QUERY_FILE``), read without pickle:
``query_ids`` (int64, one per query: its index in the data set as published, so that runs of one
data set and protocol pair query by query) and one float32 array per figure, keyed as
``metrics.json`` keys its mean (``bcs/map@1000``, ``lsh/precision@100``, ...), in the order of
``query_ids``. Imports no torch: the report reads it.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssdh_lightning.io import atomic_write

QUERY_IDS = "query_ids"
# float32 keeps 7 digits of a figure in [0, 1]: its mean agrees with metrics.json's to 1e-7,
# at half the bytes of float64
FIGURE_DTYPE = np.float32


@dataclass(frozen=True)
class PerQuery:
    """``figures[key][i]`` is the figure ``key`` of the query ``query_ids[i]``."""

    query_ids: np.ndarray
    figures: dict[str, np.ndarray]


def write_per_query(path: str | Path, query_ids, figures: Mapping[str, np.ndarray]) -> Path:
    """Write ``figures`` (key -> one value per query) and the queries' ids to ``path``,
    atomically, compressed."""
    per_query = PerQuery(
        np.asarray(query_ids, dtype=np.int64),
        {key: np.asarray(values, dtype=FIGURE_DTYPE) for key, values in figures.items()},
    )
    _check(per_query)
    arrays = {QUERY_IDS: per_query.query_ids, **per_query.figures}
    return atomic_write(path, lambda stream: np.savez_compressed(stream, **arrays))


def read_per_query(path: str | Path) -> PerQuery:
    """The per-query figures in ``path``, checked; ``ValueError`` says what is wrong with it."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"{path.name} cannot be read as the per-query figures (a .npz of numbers, read "
            f"without pickle): {error}"
        ) from None
    if QUERY_IDS not in arrays:
        raise ValueError(f"{path.name} has no array {QUERY_IDS!r}")
    query_ids = arrays.pop(QUERY_IDS)
    per_query = PerQuery(query_ids, arrays)
    try:
        _check(per_query)
    except ValueError as error:
        raise ValueError(f"{path.name}: {error}") from None
    return per_query


def _check(per_query: PerQuery) -> None:
    ids = per_query.query_ids
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"{QUERY_IDS} must be integers, one per query; got {ids.dtype} {ids.shape}"
        )
    if len(np.unique(ids)) != len(ids):
        raise ValueError(f"{QUERY_IDS} holds an id more than once: each query has its own")
    for key, values in per_query.figures.items():
        if "/" not in key:
            raise ValueError(
                f"array {key!r} is not a figure of a row (row/figure, e.g. bcs/map@all)"
            )
        if values.shape != ids.shape or not np.issubdtype(values.dtype, np.floating):
            raise ValueError(
                f"array {key!r} must hold one number per query ({len(ids)}); "
                f"got {values.dtype} {values.shape}"
            )
        if not np.isfinite(values).all():
            raise ValueError(f"array {key!r} holds a value that is not finite")
