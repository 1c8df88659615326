"""Spectral hashing (Weiss, Torralba & Fergus, NIPS 2008), as the authors' trainSH.m and
compressSH.m compute it."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ssdh_lightning.baselines.common import HASHERS, CannotFit, centred, feature_mean
from ssdh_lightning.baselines.hashing import principal_directions
from ssdh_lightning.retrieval.arrays import features_array


@HASHERS.register("sh")
class SH:
    """Spectral hashing, fit on the database features (unsupervised).

    PCA to ``min(hash_bits, dim)`` directions; along direction j the data are taken as uniform
    on their range [a_j, b_j], whose Laplacian eigenfunctions are
    ``sin(pi/2 + k pi (x - a_j) / (b_j - a_j))`` with eigenvalue order (k / (b_j - a_j))^2;
    the ``hash_bits`` single-direction modes (j, k >= 1) of smallest eigenvalue are the bits,
    bit = eigenfunction > 0. A long direction may give several bits (k = 1, 2, ...), so SH runs
    with more bits than the features have dimensions, as the authors' code does.
    """

    supervised: ClassVar[bool] = False
    title: ClassVar[str] = "SH"
    fit_on: ClassVar[str] = "the {features}"

    def __init__(self, hash_bits: int, seed: int = 0) -> None:
        self.hash_bits = hash_bits
        self.seed = seed  # SH draws nothing at random; kept for the common signature

    def fit(self, features) -> SH:
        features = features_array(features, "features")
        self.mean = feature_mean(features)
        directions = min(self.hash_bits, features.shape[1])
        self.pca = principal_directions(features, self.mean, directions)
        projected = centred(features, self.mean) @ self.pca
        eps = np.finfo(np.float64).eps  # as trainSH.m: a range of constant data is not zero
        self.low = projected.min(axis=0) - eps
        spans = projected.max(axis=0) + eps - self.low
        if spans.max() <= 4 * eps:
            raise CannotFit(
                "SH needs features that vary, but every database item has the same features"
            )
        self.direction, self.mode = _smallest_modes(spans, self.hash_bits)
        self.frequency = self.mode * np.pi / spans[self.direction]
        return self

    def encode(self, features) -> np.ndarray:
        features = features_array(features, "features")
        projected = centred(features, self.mean) @ self.pca - self.low
        return np.sin(np.pi / 2 + projected[:, self.direction] * self.frequency) > 0


def _smallest_modes(spans: np.ndarray, hash_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(direction, k) of the ``hash_bits`` modes of smallest (k / span)^2, ties in trainSH.m's
    order (direction by direction, k ascending); direction j offers
    ceil((hash_bits + 1) span_j / max span) - 1 modes, enough for every bit from the longest."""
    counts = np.ceil((hash_bits + 1) * spans / spans.max()).astype(int) - 1
    direction = np.repeat(np.arange(len(spans)), counts)
    mode = np.concatenate([np.arange(1, count + 1) for count in counts])
    order = np.argsort((mode / spans[direction]) ** 2, kind="stable")[:hash_bits]
    return direction[order], mode[order]
