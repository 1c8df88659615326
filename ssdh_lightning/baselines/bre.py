"""Binary reconstructive embedding (Kulis & Darrell, NIPS 2009), supervised: kernel hash
functions fit by exact coordinate descent on the squared error between the label distance and
the normalised Hamming distance of pairs."""

from __future__ import annotations

from typing import ClassVar

import numba
import numpy as np

from ssdh_lightning.baselines.anchors import labelled_anchors, rbf
from ssdh_lightning.baselines.common import HASHERS, label_matrix, pair_similarity
from ssdh_lightning.retrieval.arrays import features_array


@numba.njit(cache=True)
def _best_weight(bits, residual, offsets, column, scale):
    """The value of one weight W_pq minimising sum_{i<j} residual_ij^2 over the whole line.

    ``bits`` (l,) are this hash's 0/1 bits, ``residual`` (l, l) = d_M - d_R, ``offsets`` (l,)
    the other weights' part of each item's kernel sum, ``column`` (l,) > 0 the kernel values
    of the weight's point. Bit i is 1 once W > -offsets_i / column_i: from W = -inf (all 0),
    the bits flip one at a time in that order, each flip changing d_R(i, j) by +-scale. Leaves
    ``bits`` and ``residual`` as the returned W gives them; returns (W, objective)."""
    n = len(bits)
    for i in range(n):  # to W = -inf: every bit 0
        if bits[i] == 1:
            for j in range(n):
                if j != i and bits[j] == 0:
                    residual[i, j] += scale
                    residual[j, i] += scale
                elif j != i:
                    residual[i, j] -= scale
                    residual[j, i] -= scale
            bits[i] = 0
    objective = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            objective += residual[i, j] ** 2
    breaks = -offsets / column
    order = np.argsort(breaks)
    best, best_flips = objective, 0
    for k in range(n):
        i = order[k]
        for j in range(n):  # bit i goes 0 -> 1: pairs with a 0 bit grow apart, with a 1 nearer
            if j == i:
                continue
            change = -scale if bits[j] == 0 else scale
            objective += (residual[i, j] + change) ** 2 - residual[i, j] ** 2
            residual[i, j] += change
            residual[j, i] += change
        bits[i] = 1
        if objective < best - 1e-12:
            best, best_flips = objective, k + 1
    for k in range(n - 1, best_flips - 1, -1):  # back to the best point
        i = order[k]
        for j in range(n):
            if j == i:
                continue
            change = scale if bits[j] == 0 else -scale  # bit i goes 1 -> 0
            residual[i, j] += change
            residual[j, i] += change
        bits[i] = 0
    if best_flips == 0:
        weight = breaks[order[0]] - 1.0
    elif best_flips == n:
        weight = breaks[order[n - 1]] + 1.0
    else:
        weight = (breaks[order[best_flips - 1]] + breaks[order[best_flips]]) / 2
    return weight, best


@HASHERS.register("bre")
class BRE:
    """Supervised BRE, fit on a seeded sample of ``labelled`` database items with their labels
    (the training set of the paper protocol; never the queries').

    Hash p: ``h_p(x) = [sum_q W_pq k(x_q, x) > 0]`` on ``anchors`` points drawn from the
    database, k the RBF kernel of KSH's width (shared by every hash function, a simplification:
    the paper draws points per hash function). The target distance of a pair is 0 when they
    share a label and 1 otherwise (the supervised form), d_R the Hamming distance over
    hash_bits; W minimises sum_{i<j} (d_M - d_R)^2 by the paper's coordinate descent: each
    weight in turn is set to its exact minimiser along its line (the objective is piecewise
    constant in it), ``sweeps`` passes over all weights in a seeded order. W starts small and
    random.
    """

    supervised: ClassVar[bool] = True
    title: ClassVar[str] = "BRE"
    fit_on: ClassVar[str] = "a seeded labelled sample of the {features}"

    def __init__(
        self,
        hash_bits: int,
        labelled: int = 500,
        anchors: int = 100,
        sweeps: int = 2,
        seed: int = 0,
    ) -> None:
        self.hash_bits = hash_bits
        self.labelled = labelled
        self.anchors = anchors
        self.sweeps = sweeps
        self.seed = seed

    def fit(self, features, labels) -> BRE:
        features = features_array(features, "features")
        targets = label_matrix(labels, len(features))
        rng = np.random.default_rng(self.seed)
        self.anchor_points, self.labelled_rows, self.width = labelled_anchors(
            features, self.anchors, self.labelled, rng, "BRE"
        )
        kernel = rbf(features[self.labelled_rows], self.anchor_points, self.width)
        self.weights = rng.standard_normal((self.anchors, self.hash_bits))
        sums = kernel @ self.weights
        bits = (sums > 0).astype(np.int8)
        hamming = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
        residual = (pair_similarity(targets[self.labelled_rows]) < 0) - hamming / self.hash_bits
        self.objective = []
        for _ in range(self.sweeps):
            for flat in rng.permutation(self.anchors * self.hash_bits):
                point, bit = divmod(int(flat), self.hash_bits)
                offsets = sums[:, bit] - kernel[:, point] * self.weights[point, bit]
                column_bits = np.ascontiguousarray(bits[:, bit])
                weight, value = _best_weight(
                    column_bits, residual, offsets, kernel[:, point].copy(), 1.0 / self.hash_bits
                )
                bits[:, bit] = column_bits
                self.weights[point, bit] = weight
                sums[:, bit] = offsets + kernel[:, point] * weight
            self.objective.append(value)
        return self

    def encode(self, features) -> np.ndarray:
        features = features_array(features, "features")
        return rbf(features, self.anchor_points, self.width) @ self.weights > 0
