"""What every hashing baseline shares: the registry it joins, the error that leaves one out,
chunked passes over features that may be float16 memory maps, label matrices and seeded samples."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Protocol

import numpy as np

from ssdh_lightning.registry import Registry
from ssdh_lightning.retrieval.arrays import as_numpy

CHUNK = 65_536


class Hasher(Protocol):
    """A shallow hashing baseline: ``Hasher(hash_bits, seed=...)``, ``fit`` on the database
    features (and labels, when ``supervised``), then ``encode`` any features to 0/1 codes.
    ``title`` names its row in the report; ``fit_on`` says what it was fit on, with
    ``{features}`` where the features it was given go (fine-tuned, or before fine-tuning)."""

    supervised: ClassVar[bool]
    title: ClassVar[str]
    fit_on: ClassVar[str]

    def __init__(self, hash_bits: int, seed: int = 0) -> None: ...

    def encode(self, features) -> np.ndarray: ...


# Every hashing baseline, registered where its class is defined; the order of registration is
# the order of its rows (the paper's).
HASHERS: Registry[type[Hasher]] = Registry("hashing baseline", "baselines=[NAME, ...]")


class CannotFit(ValueError):
    """A baseline that cannot be fitted on these data (too few items, too few dimensions);
    the message says why and what would let it run."""


def chunks(features: np.ndarray) -> Iterator[np.ndarray]:
    """Rows of ``features`` as float64 copies, block by block (a float16 memory map is never
    converted whole); callers may change a block in place."""
    for start in range(0, len(features), CHUNK):
        yield np.array(features[start : start + CHUNK], dtype=np.float64)


def feature_mean(features: np.ndarray) -> np.ndarray:
    total = np.zeros(features.shape[1])
    for block in chunks(features):
        total += block.sum(axis=0)
    return total / len(features)


def centred(features: np.ndarray, mean: np.ndarray) -> np.ndarray:
    return np.asarray(features, dtype=np.float64) - mean


def label_matrix(labels, n_items: int, name: str = "labels") -> np.ndarray:
    """Labels as a 0/1 float matrix (n, classes): one-hot for class ids (n,), as given for a
    multi-label matrix. Class ids need not be 0..c-1 (any integers, -1 included)."""
    array = as_numpy(labels, name)
    if array.dtype.kind not in "biu" or array.ndim not in (1, 2):
        raise TypeError(
            f"{name} must be integer class ids (n,) or a 0/1 multi-label matrix (n, classes), "
            f"got dtype {array.dtype} and shape {array.shape}"
        )
    if len(array) != n_items:
        raise ValueError(
            f"{name} has {len(array)} rows but the features have {n_items}; pass the labels "
            "of the same items"
        )
    if array.ndim == 2:
        return array.astype(np.float64)
    _, classes = np.unique(array, return_inverse=True)
    return np.eye(classes.max() + 1)[classes.ravel()]


def sample_rows(n_items: int, count: int, rng: np.random.Generator, what: str) -> np.ndarray:
    """``count`` distinct row indices of ``n_items``, sorted; too few items cannot be sampled."""
    if count > n_items:
        raise CannotFit(
            f"needs {count} {what} drawn from the training items, but there are only {n_items}; "
            "it runs on a larger training set (database)"
        )
    return np.sort(rng.choice(n_items, size=count, replace=False))


def pair_similarity(targets: np.ndarray) -> np.ndarray:
    """S (n, n) of a label matrix: +1 for two items that share a label, -1 otherwise."""
    return np.where(targets @ targets.T > 0, 1.0, -1.0)


def signs(values: np.ndarray) -> np.ndarray:
    """+1 at and above zero, -1 below (where a coefficient is zero, either sign is optimal)."""
    return np.where(values >= 0, 1.0, -1.0)
