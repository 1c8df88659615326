"""Unsupervised hashing of features: the paper's LSH and ITQ rows, on the same features.

Both are fitted on the database (the training set of the paper protocol) and encode any
features to 0/1 codes of ``hash_bits``; features may be float16 memory maps.
"""

from __future__ import annotations

import numpy as np

from ssdh_lightning.retrieval.arrays import features_array

_CHUNK = 65_536


def _mean(features: np.ndarray) -> np.ndarray:
    total = np.zeros(features.shape[1])
    for start in range(0, len(features), _CHUNK):
        total += features[start : start + _CHUNK].sum(axis=0, dtype=np.float64)
    return total / len(features)


def _centred(features: np.ndarray, mean: np.ndarray) -> np.ndarray:
    return np.asarray(features, dtype=np.float64) - mean


class LSH:
    """Random hyperplanes through the database mean: bit i is ``(x - mean) . w_i > 0``, with
    w_i drawn from a standard normal (Charikar's sign random projections)."""

    def __init__(self, hash_bits: int, seed: int = 0) -> None:
        self.hash_bits = hash_bits
        self.seed = seed

    def fit(self, features) -> LSH:
        features = features_array(features, "features")
        self.mean = _mean(features)
        rng = np.random.default_rng(self.seed)
        self.projection = rng.standard_normal((features.shape[1], self.hash_bits))
        return self

    def encode(self, features) -> np.ndarray:
        features = features_array(features, "features")
        return _centred(features, self.mean) @ self.projection > 0


class ITQ:
    """Iterative quantisation (Gong & Lazebnik, 2011): PCA to ``hash_bits`` dimensions, then the
    rotation that brings the projected data nearest to the corners of the hypercube."""

    def __init__(self, hash_bits: int, iterations: int = 50, seed: int = 0) -> None:
        self.hash_bits = hash_bits
        self.iterations = iterations
        self.seed = seed

    def fit(self, features) -> ITQ:
        features = features_array(features, "features")
        if self.hash_bits > features.shape[1]:
            raise ValueError(
                f"ITQ projects to hash_bits={self.hash_bits} principal components, but the "
                f"features have only {features.shape[1]} dimensions; use hash_bits <= "
                f"{features.shape[1]}"
            )
        self.mean = _mean(features)
        covariance = np.zeros((features.shape[1], features.shape[1]))
        for start in range(0, len(features), _CHUNK):
            centred = _centred(features[start : start + _CHUNK], self.mean)
            covariance += centred.T @ centred
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        self.pca = eigenvectors[:, np.argsort(eigenvalues)[::-1][: self.hash_bits]]
        projected = _centred(features, self.mean) @ self.pca
        rng = np.random.default_rng(self.seed)
        rotation, _ = np.linalg.qr(rng.standard_normal((self.hash_bits, self.hash_bits)))
        for _ in range(self.iterations):
            corners = np.where(projected @ rotation >= 0, 1.0, -1.0)
            # Orthogonal Procrustes: the rotation R minimising |corners - projected R|.
            left, _, right = np.linalg.svd(projected.T @ corners)
            rotation = left @ right
        self.rotation = rotation
        return self

    def encode(self, features) -> np.ndarray:
        features = features_array(features, "features")
        return _centred(features, self.mean) @ self.pca @ self.rotation > 0
