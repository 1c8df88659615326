"""Supervised discrete hashing (Shen, Shen, Liu & Shen, CVPR 2015), as the authors' SDH.m and
demo train it."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ssdh_lightning.baselines.anchors import rbf, squared_distances
from ssdh_lightning.baselines.common import HASHERS, CannotFit, label_matrix, sample_rows, signs
from ssdh_lightning.retrieval.arrays import features_array


def ridge(inputs: np.ndarray, targets: np.ndarray, penalty: float) -> np.ndarray:
    """argmin_W |targets - inputs W|^2 + penalty |W|^2."""
    gram = inputs.T @ inputs + penalty * np.eye(inputs.shape[1])
    return np.linalg.solve(gram, inputs.T @ targets)


def best_bit(codes: np.ndarray, bit: int, weights: np.ndarray, classifier: np.ndarray):
    """The column ``bit`` of B minimising SDH's B-step objective with the other bits fixed, in
    closed form: sgn(q_k - B' W' w_k), Q = Y W^T + nu F(X), B' and W' without bit k, w_k the
    bit's row of W."""
    others = np.arange(codes.shape[1]) != bit
    interaction = codes[:, others] @ (classifier[others] @ classifier[bit])
    return signs(weights[:, bit] - interaction)


def discrete_codes(
    codes: np.ndarray, targets: np.ndarray, classifier: np.ndarray, hashed: np.ndarray, nu: float
) -> np.ndarray:
    """SDH's B-step: min_B |Y - B W|^2 + nu |B - F(X)|^2 over B in {-1, +1}^(n, L), by discrete
    cyclic coordinate descent from ``codes``, one bit (column) at a time in closed form; at most
    10 sweeps over the bits, fewer when B stops changing."""
    codes = codes.copy()
    weights = targets @ classifier.T + nu * hashed
    for _ in range(10):
        previous = codes.copy()
        for bit in range(codes.shape[1]):
            codes[:, bit] = best_bit(codes, bit, weights, classifier)
        if np.array_equal(codes, previous):
            break
    return codes


@HASHERS.register("sdh")
class SDH:
    """SDH, fit on the database features and labels (the training set of the paper protocol;
    never the queries'), with the authors' defaults.

    Features: RBF values on ``anchors`` anchors (1,000, or every database item when there are
    fewer) drawn from the database, width sigma the mean distance from a database item to its
    nearest anchor other than itself, plus a constant 1. From random codes B, W is the ridge
    regression (lambda = 1) of the labels on B and P the ridge regression (1e-2) of B on the
    features; then 5 times: B by discrete cyclic coordinate descent (nu = 1e-5), W, P. Bits of
    any item, database included: sgn(phi(x) P).
    """

    supervised: ClassVar[bool] = True
    title: ClassVar[str] = "SDH"
    fit_on: ClassVar[str] = "the {features} and labels"

    def __init__(
        self,
        hash_bits: int,
        anchors: int = 1000,
        penalty: float = 1.0,
        nu: float = 1e-5,
        projection_penalty: float = 1e-2,
        iterations: int = 5,
        seed: int = 0,
    ) -> None:
        self.hash_bits = hash_bits
        self.anchors = anchors
        self.penalty = penalty
        self.nu = nu
        self.projection_penalty = projection_penalty
        self.iterations = iterations
        self.seed = seed

    def fit(self, features, labels) -> SDH:
        features = features_array(features, "features")
        targets = label_matrix(labels, len(features))
        rng = np.random.default_rng(self.seed)
        if len(features) < 2:
            raise CannotFit(
                f"SDH sets its kernel width from distances between database items, and there "
                f"is {len(features)}; it runs on a database of 2 items or more"
            )
        rows = sample_rows(len(features), min(self.anchors, len(features)), rng, "SDH anchors")
        self.anchor_points = np.asarray(features[rows], dtype=np.float64)
        distances = squared_distances(features, self.anchor_points)
        distances[rows, np.arange(len(rows))] = np.inf  # an anchor is not its own neighbour
        nearest = np.sqrt(distances.min(axis=1)).mean()
        self.width = max(float(nearest), np.finfo(np.float64).tiny)
        phi = self.anchor_features(features)
        codes = signs(rng.standard_normal((len(features), self.hash_bits)))
        classifier = ridge(codes, targets, self.penalty)
        self.projection = ridge(phi, codes, self.projection_penalty)
        for _ in range(self.iterations):
            codes = discrete_codes(codes, targets, classifier, phi @ self.projection, self.nu)
            classifier = ridge(codes, targets, self.penalty)
            self.projection = ridge(phi, codes, self.projection_penalty)
        return self

    def anchor_features(self, features) -> np.ndarray:
        kernel = rbf(features, self.anchor_points, self.width)
        return np.hstack([kernel, np.ones((len(kernel), 1))])

    def encode(self, features) -> np.ndarray:
        features = features_array(features, "features")
        return self.anchor_features(features) @ self.projection > 0
