"""RBF kernel features on anchors drawn from the training items (KSH, BRE, SDH)."""

from __future__ import annotations

import numpy as np

from ssdh_lightning.baselines.common import chunks, sample_rows


def squared_distances(features: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (n, m) from every row of ``features`` to every anchor."""
    anchor_norms = np.square(anchors).sum(axis=1)
    rows = []
    for block in chunks(features):
        distances = np.square(block).sum(axis=1)[:, None] - 2 * block @ anchors.T + anchor_norms
        rows.append(np.maximum(distances, 0.0))
    return np.concatenate(rows)


def rbf(features: np.ndarray, anchors: np.ndarray, width: float) -> np.ndarray:
    """``exp(-|x - anchor|^2 / (2 width^2))`` for every row and anchor: (n, m)."""
    return np.exp(-squared_distances(features, anchors) / (2 * width**2))


def root_mean_square_width(features: np.ndarray, anchors: np.ndarray) -> float:
    """KSH's kernel width: the root of the mean squared distance from the features to the
    anchors (its code's exp(-d^2 / (2 sigma)) with sigma that mean)."""
    return float(np.sqrt(squared_distances(features, anchors).mean()))


def labelled_anchors(
    features: np.ndarray, anchors: int, labelled: int, rng: np.random.Generator, method: str
) -> tuple[np.ndarray, np.ndarray, float]:
    """KSH's and BRE's draw: ``anchors`` anchor points, then ``labelled`` labelled rows, from the
    training items, and the kernel width on those anchors: (anchor points, rows, width)."""
    anchor_rows = sample_rows(len(features), anchors, rng, f"{method} anchors")
    labelled_rows = sample_rows(len(features), labelled, rng, f"{method} labelled items")
    anchor_points = np.asarray(features[anchor_rows], dtype=np.float64)
    return anchor_points, labelled_rows, root_mean_square_width(features, anchor_points)
