"""Kernel-based supervised hashing (Liu, Wang, Ji, Jiang & Chang, CVPR 2012), as the authors'
MATLAB code trains it."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.linalg

from ssdh_lightning.baselines.anchors import labelled_anchors, rbf
from ssdh_lightning.baselines.common import HASHERS, label_matrix, pair_similarity
from ssdh_lightning.retrieval.arrays import features_array


def ksh_signs(values: np.ndarray) -> np.ndarray:
    """KSH's sgn, as its authors' code: +1 above zero, -1 otherwise (the codes are K a > 0)."""
    return np.where(values > 0, 1.0, -1.0)


def smooth_objective(kernel: np.ndarray, residual: np.ndarray, projection: np.ndarray):
    """The surrogate -phi^T R phi with phi = 2 / (1 + exp(-K a)) - 1 = tanh(K a / 2) (a smooth
    sgn), and its gradient in a."""
    phi = np.tanh(kernel @ projection / 2)
    residual_phi = residual @ phi
    gradient = -kernel.T @ (residual_phi * (1.0 - phi**2))
    return -phi @ residual_phi, gradient


def descend(kernel, residual, projection, iterations: int) -> np.ndarray:
    """Gradient descent on the smooth surrogate from ``projection``, each step's size found by
    backtracking (Armijo); stops when no step lowers it by a millionth."""
    value, gradient = smooth_objective(kernel, residual, projection)
    step = 1.0
    for _ in range(iterations):
        squared_norm = gradient @ gradient
        if squared_norm == 0.0:
            break
        while step > 1e-12:
            candidate = projection - step * gradient
            candidate_value, candidate_gradient = smooth_objective(kernel, residual, candidate)
            if candidate_value <= value - 1e-4 * step * squared_norm:
                break
            step /= 2
        else:
            break
        converged = value - candidate_value <= 1e-6 * abs(value)
        projection, value, gradient = candidate, candidate_value, candidate_gradient
        if converged:
            break
        step *= 2  # let the next step grow again
    return projection


def spectral_projection(kernel_residual, whitening: np.ndarray, labelled: int) -> np.ndarray:
    """The spectral relaxation's a: the top generalized eigenvector of K^T R K a = lambda K^T K a,
    scaled so that |K a|^2 = l. ``whitening`` is L^-1 for K^T K = L L^T, which makes it the
    ordinary eigenproblem of L^-1 K^T R K L^-T in u = L^T a, |u| = 1."""
    _, vectors = np.linalg.eigh(whitening @ kernel_residual @ whitening.T)
    return np.sqrt(labelled) * whitening.T @ vectors[:, -1]


def agreement(kernel: np.ndarray, residual: np.ndarray, projection: np.ndarray) -> float:
    """b^T R b for the codes b = sgn(K a): the paper's objective for this bit, up to a constant
    (|R - b b^T|^2 = |R|^2 - 2 b^T R b + l^2)."""
    codes = ksh_signs(kernel @ projection)
    return codes @ residual @ codes


@HASHERS.register("ksh")
class KSH:
    """KSH, fit on a seeded sample of ``labelled`` database items with their labels (the
    training set of the paper protocol; never the queries'), with ``anchors`` anchors drawn from
    all database items.

    Kernel features: ``k(x) = exp(-|x - anchor|^2 / (2 sigma))``, sigma the mean squared
    distance from the database to the anchors, centred by their database mean. Bit k is
    ``sgn(k(x) . a_k)``; the bits are learned greedily against the residual
    ``R_k = r S - sum_{j<k} b_j b_j^T`` (S: +1 for pairs sharing a label, -1 otherwise, r the
    number of bits): a_k starts from the spectral relaxation (the top generalized eigenvector of
    K^T R K a = lambda K^T K a, scaled so |K a|^2 = l), is refined by gradient descent on the
    smooth surrogate (at most 500 steps, fewer once a step gains less than a millionth), and the
    refined a_k is kept only when its codes have the larger b^T R b (ties keep the relaxed one),
    as in the authors' code. K^T K gets 1e-10 times its trace as a ridge, so that the
    generalized eigenproblem stays well posed with nearly collinear anchors.
    """

    supervised: ClassVar[bool] = True
    title: ClassVar[str] = "KSH"
    fit_on: ClassVar[str] = "a seeded labelled sample of the {features}"

    def __init__(
        self,
        hash_bits: int,
        labelled: int = 1000,
        anchors: int = 300,
        iterations: int = 500,
        seed: int = 0,
    ) -> None:
        self.hash_bits = hash_bits
        self.labelled = labelled
        self.anchors = anchors
        self.iterations = iterations
        self.seed = seed

    def fit(self, features, labels) -> KSH:
        features = features_array(features, "features")
        targets = label_matrix(labels, len(features))
        rng = np.random.default_rng(self.seed)
        self.anchor_points, self.labelled_rows, self.width = labelled_anchors(
            features, self.anchors, self.labelled, rng, "KSH"
        )
        self.kernel_mean = rbf(features, self.anchor_points, self.width).mean(axis=0)
        kernel = self.kernel_features(features[self.labelled_rows])
        residual = self.hash_bits * pair_similarity(targets[self.labelled_rows])
        gram = kernel.T @ kernel
        gram += 1e-10 * np.trace(gram) * np.eye(len(gram))
        whitening = scipy.linalg.solve_triangular(
            np.linalg.cholesky(gram), np.eye(len(gram)), lower=True
        )
        kernel_residual = kernel.T @ residual @ kernel  # K^T R K, updated with R
        self.projections = np.zeros((self.anchors, self.hash_bits))
        for bit in range(self.hash_bits):
            relaxed = spectral_projection(kernel_residual, whitening, len(kernel))
            refined = descend(kernel, residual, relaxed, self.iterations)
            best = max((relaxed, refined), key=lambda a: agreement(kernel, residual, a))
            self.projections[:, bit] = best
            codes = ksh_signs(kernel @ best)
            residual -= np.outer(codes, codes)
            kernel_codes = kernel.T @ codes
            kernel_residual -= np.outer(kernel_codes, kernel_codes)
        return self

    def kernel_features(self, features) -> np.ndarray:
        return rbf(features, self.anchor_points, self.width) - self.kernel_mean

    def encode(self, features) -> np.ndarray:
        features = features_array(features, "features")
        return self.kernel_features(features) @ self.projections > 0
