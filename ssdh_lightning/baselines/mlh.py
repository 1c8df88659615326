"""Minimal loss hashing (Norouzi & Fleet, ICML 2011): a linear hash sgn(W [x; 1]) learned by
stochastic descent on the paper's convex-concave upper bound of a hinge loss on pairs."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ssdh_lightning.baselines.common import (
    HASHERS,
    centred,
    feature_mean,
    label_matrix,
    pair_similarity,
    sample_rows,
    signs,
)
from ssdh_lightning.retrieval.arrays import features_array


def pair_loss(distance: np.ndarray, similar: np.ndarray, rho: int, ratio: float) -> np.ndarray:
    """The paper's hinge loss of a pair at Hamming distance m: max(m - rho + 1, 0) for a
    similar pair, ratio * max(rho - m + 1, 0) for a dissimilar one."""
    return np.where(
        similar,
        np.maximum(distance - rho + 1, 0),
        ratio * np.maximum(rho - distance + 1, 0),
    )


def loss_augmented_codes(first, second, similar, rho: int, ratio: float):
    """argmax over code pairs (g, h) of g.first + h.second + loss(|g - h|_H, similar), per row.

    For a bit where g and h agree the best is |first + second|, where they differ
    |first - second|; so the best pair at distance m makes the m bits of largest gain
    |first - second| - |first + second| differ, and the best m is taken over 0..bits."""
    gains = np.abs(first - second) - np.abs(first + second)
    order = np.argsort(-gains, axis=1, kind="stable")
    best_gain = np.concatenate(
        [np.zeros((len(gains), 1)), np.cumsum(np.take_along_axis(gains, order, 1), 1)], 1
    )
    distances = np.arange(gains.shape[1] + 1)
    scores = best_gain + pair_loss(distances[None], similar[:, None], rho, ratio)
    differing = scores.argmax(axis=1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(gains.shape[1])[None], axis=1)
    differ = rank < differing[:, None]
    agree_sign = signs(first + second)
    differ_sign = signs(first - second)
    g = np.where(differ, differ_sign, agree_sign)
    h = np.where(differ, -differ_sign, agree_sign)
    return g, h


@HASHERS.register("mlh")
class MLH:
    """MLH, fit on a seeded sample of ``labelled`` database items with their labels (the
    training set of the paper protocol; never the queries'); similar = sharing a label.

    Features are centred by the database mean and divided by its mean norm, a 1 appended; W
    starts as LSH (standard normal rows). Each of ``steps`` steps takes ``batch`` pairs of the
    sample, half similar and half not, and moves W along the subgradient of the paper's bound:
    W += rate * mean[(b(x) - g) x^T + (b(x') - h) x'^T], with (g, h) the loss-augmented codes,
    then shrinks it by the weight decay. rho (the paper validates it; here
    ``max(1, hash_bits // 4)``), the loss ratio lambda = 0.5, the rate and the decay are set,
    not validated: a simplification of the paper's protocol.
    """

    supervised: ClassVar[bool] = True
    title: ClassVar[str] = "MLH"
    fit_on: ClassVar[str] = "a seeded labelled sample of the {features}"

    def __init__(
        self,
        hash_bits: int,
        labelled: int = 1000,
        steps: int = 2000,
        batch: int = 100,
        rate: float = 0.1,
        decay: float = 1e-4,
        ratio: float = 0.5,
        seed: int = 0,
    ) -> None:
        self.hash_bits = hash_bits
        self.labelled = labelled
        self.steps = steps
        self.batch = batch
        self.rate = rate
        self.decay = decay
        self.ratio = ratio
        self.rho = max(1, hash_bits // 4)
        self.seed = seed

    def fit(self, features, labels) -> MLH:
        features = features_array(features, "features")
        targets = label_matrix(labels, len(features))
        rng = np.random.default_rng(self.seed)
        rows = sample_rows(len(features), min(self.labelled, len(features)), rng, "MLH items")
        self.mean = feature_mean(features)
        sample = centred(features[rows], self.mean)
        self.scale = max(float(np.linalg.norm(sample, axis=1).mean()), np.finfo(float).tiny)
        inputs = self.inputs(features[rows])
        similarity = pair_similarity(targets[rows]) > 0
        pairs = [np.argwhere(np.triu(similarity == kind, 1)) for kind in (True, False)]
        self.weights = rng.standard_normal((self.hash_bits, inputs.shape[1]))
        for _ in range(self.steps):
            chosen = [p[rng.integers(0, len(p), self.batch // 2)] for p in pairs if len(p)]
            step_pairs = np.concatenate(chosen)
            left, right = inputs[step_pairs[:, 0]], inputs[step_pairs[:, 1]]
            first, second = left @ self.weights.T, right @ self.weights.T
            similar = similarity[step_pairs[:, 0], step_pairs[:, 1]]
            g, h = loss_augmented_codes(first, second, similar, self.rho, self.ratio)
            gradient = (signs(first) - g).T @ left + (signs(second) - h).T @ right
            self.weights += self.rate * gradient / len(step_pairs)
            self.weights *= 1 - self.decay
        return self

    def inputs(self, features) -> np.ndarray:
        scaled = centred(features, self.mean) / self.scale
        return np.hstack([scaled, np.ones((len(scaled), 1))])

    def encode(self, features) -> np.ndarray:
        features = features_array(features, "features")
        return self.inputs(features) @ self.weights.T > 0
