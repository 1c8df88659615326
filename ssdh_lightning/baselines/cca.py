"""ITQ-CCA (Gong & Lazebnik, CVPR 2011; TPAMI 2013): canonical correlation analysis between the
features and the labels instead of PCA, then ITQ's rotation."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ssdh_lightning.baselines.common import HASHERS, centred, chunks, feature_mean, label_matrix
from ssdh_lightning.baselines.hashing import check_projection_width, itq_rotation
from ssdh_lightning.retrieval.arrays import features_array


def canonical_directions(
    features: np.ndarray, mean: np.ndarray, labels: np.ndarray, regularisation: float
) -> tuple[np.ndarray, np.ndarray]:
    """All canonical directions of the features against the label matrix, as the authors'
    cca.m: the eigenvectors w of Cxx^-1 Cxy Cyy^-1 Cyx, both covariances plus
    ``regularisation`` times the identity, each of unit length, with their canonical
    correlations r = sqrt(eigenvalue), by decreasing r. Returns (directions (d, d), r (d,))."""
    dim = features.shape[1]
    cross = np.zeros((dim, labels.shape[1]))
    cxx = np.zeros((dim, dim))
    start = 0
    label_centred = labels - labels.mean(axis=0)
    for block in chunks(features):
        block -= mean
        cxx += block.T @ block
        cross += block.T @ label_centred[start : start + len(block)]
        start += len(block)
    scale = 1.0 / (len(features) - 1)  # MATLAB's cov
    cxx = cxx * scale + regularisation * np.eye(dim)
    cxy = cross * scale
    cyy = label_centred.T @ label_centred * scale + regularisation * np.eye(labels.shape[1])
    # The symmetric form of the same eigenproblem: with u = Cxx^(1/2) w,
    # Cxx^(-1/2) Cxy Cyy^-1 Cyx Cxx^(-1/2) u = r^2 u.
    values, vectors = np.linalg.eigh(cxx)
    inverse_root = vectors / np.sqrt(values) @ vectors.T
    whitened = inverse_root @ cxy
    squared, u = np.linalg.eigh(whitened @ np.linalg.solve(cyy, whitened.T))
    order = np.argsort(squared)[::-1]
    directions = inverse_root @ u[:, order]
    directions /= np.linalg.norm(directions, axis=0)
    return directions, np.sqrt(np.clip(squared[order], 0.0, None))


@HASHERS.register("itq_cca")
class ITQCCA:
    """ITQ-CCA, fit on the database features and labels (the training set of the paper
    protocol; never the queries').

    The projection is the ``hash_bits`` leading canonical directions, each scaled by its
    canonical correlation (the paper's weighting), from the centred database features; ITQ's
    rotation (50 iterations) then makes the codes. As in the authors' code, both covariances get
    1e-4 times the identity: with c classes only c - 1 correlations are non-zero, so directions
    past them have a correlation near 0, add almost nothing to the projection, and the rotation
    spreads the c - 1 informative ones over every bit. ``hash_bits`` must not exceed the
    feature dimension.
    """

    supervised: ClassVar[bool] = True
    title: ClassVar[str] = "ITQ-CCA"
    fit_on: ClassVar[str] = "the {features} and labels"

    def __init__(
        self, hash_bits: int, iterations: int = 50, regularisation: float = 1e-4, seed: int = 0
    ) -> None:
        self.hash_bits = hash_bits
        self.iterations = iterations
        self.regularisation = regularisation
        self.seed = seed

    def fit(self, features, labels) -> ITQCCA:
        features = features_array(features, "features")
        check_projection_width("ITQ-CCA", self.hash_bits, features, "canonical directions")
        targets = label_matrix(labels, len(features))
        self.mean = feature_mean(features)
        directions, self.correlations = canonical_directions(
            features, self.mean, targets, self.regularisation
        )
        self.projection = directions[:, : self.hash_bits] * self.correlations[: self.hash_bits]
        projected = centred(features, self.mean) @ self.projection
        self.rotation = itq_rotation(projected, self.iterations, self.seed)
        return self

    def encode(self, features) -> np.ndarray:
        features = features_array(features, "features")
        return centred(features, self.mean) @ self.projection @ self.rotation > 0
