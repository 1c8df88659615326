"""Unsupervised hashing of features: the paper's LSH and ITQ rows, on the same features.

Both are fitted on the database features (the training set of the paper protocol), never on
labels, and encode any features to 0/1 codes of ``hash_bits``; features may be float16 memory
maps. ITQ's rotation is shared with ITQ-CCA (``baselines/cca.py``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ssdh_lightning.baselines.common import HASHERS, CannotFit, centred, chunks, feature_mean
from ssdh_lightning.retrieval.arrays import features_array


@HASHERS.register("lsh")
class LSH:
    """Random hyperplanes through the database mean: bit i is ``(x - mean) . w_i > 0``, with
    w_i drawn from a standard normal (Charikar's sign random projections). Fit on the database
    features."""

    supervised: ClassVar[bool] = False
    title: ClassVar[str] = "LSH (random hyperplanes)"
    fit_on: ClassVar[str] = "random hyperplanes on the {features}"

    def __init__(self, hash_bits: int, seed: int = 0) -> None:
        self.hash_bits = hash_bits
        self.seed = seed

    def fit(self, features) -> LSH:
        features = features_array(features, "features")
        self.mean = feature_mean(features)
        rng = np.random.default_rng(self.seed)
        self.projection = rng.standard_normal((features.shape[1], self.hash_bits))
        return self

    def encode(self, features) -> np.ndarray:
        features = features_array(features, "features")
        return centred(features, self.mean) @ self.projection > 0


def check_projection_width(method: str, hash_bits: int, features: np.ndarray, what: str) -> None:
    """Methods that project to ``hash_bits`` directions of the features need that many."""
    if hash_bits > features.shape[1]:
        raise CannotFit(
            f"{method} projects to hash_bits={hash_bits} {what}, but the features have only "
            f"{features.shape[1]} dimensions; use hash_bits <= {features.shape[1]}"
        )


def principal_directions(features: np.ndarray, mean: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` leading eigenvectors (d, count) of the features' covariance."""
    covariance = np.zeros((features.shape[1], features.shape[1]))
    for block in chunks(features):
        block -= mean
        covariance += block.T @ block
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    return eigenvectors[:, np.argsort(eigenvalues)[::-1][:count]]


def itq_rotation(projected: np.ndarray, iterations: int, seed: int) -> np.ndarray:
    """ITQ's orthogonal rotation R (Gong & Lazebnik, 2011): from a random one, alternately the
    nearest hypercube corners B = sgn(V R) and the R minimising |B - V R| (Procrustes)."""
    bits = projected.shape[1]
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.standard_normal((bits, bits)))
    for _ in range(iterations):
        corners = np.where(projected @ rotation >= 0, 1.0, -1.0)
        left, _, right = np.linalg.svd(projected.T @ corners)
        rotation = left @ right
    return rotation


@HASHERS.register("itq")
class ITQ:
    """Iterative quantisation (Gong & Lazebnik, 2011): PCA to ``hash_bits`` dimensions, then the
    rotation that brings the projected data nearest to the corners of the hypercube. Fit on the
    database features."""

    supervised: ClassVar[bool] = False
    title: ClassVar[str] = "ITQ"
    fit_on: ClassVar[str] = "the {features}"

    def __init__(self, hash_bits: int, iterations: int = 50, seed: int = 0) -> None:
        self.hash_bits = hash_bits
        self.iterations = iterations
        self.seed = seed

    def fit(self, features) -> ITQ:
        features = features_array(features, "features")
        check_projection_width("ITQ", self.hash_bits, features, "principal components")
        self.mean = feature_mean(features)
        self.pca = principal_directions(features, self.mean, self.hash_bits)
        projected = centred(features, self.mean) @ self.pca
        self.rotation = itq_rotation(projected, self.iterations, self.seed)
        return self

    def encode(self, features) -> np.ndarray:
        features = features_array(features, "features")
        return centred(features, self.mean) @ self.pca @ self.rotation > 0
