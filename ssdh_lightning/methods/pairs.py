"""Pair similarity: two items are similar when they share a label; without labels, when their
features point the same way."""

import torch
import torch.nn.functional as F


def label_rows(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, num_classes) float rows of class indices (B,) (one-hot) or of multi-hot rows."""
    if labels.dim() == 2:
        return labels.float()
    return torch.nn.functional.one_hot(labels, num_classes).float()


def label_similarity(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, B) float 0/1 similarity of class indices (B,) or multi-hot rows (B, num_classes).

    Multi-hot rows share a label when their inner product is positive, so one rule serves both.
    """
    rows = label_rows(labels, num_classes)
    return (rows @ rows.T > 0).float()


def label_cosine_similarity(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, B) soft similarity in [0, 1]: the cosine of two items' label rows (IDHN), 1 for the
    same label set, 0 for none shared; 0/1 for class indices. An item without labels is 0 to all."""
    rows = torch.nn.functional.normalize(label_rows(labels, num_classes), dim=1)
    return rows @ rows.T


def squared_distances(relaxed: torch.Tensor) -> torch.Tensor:
    """(B, B) ||u_i - u_j||^2."""
    norms = relaxed.pow(2).sum(dim=1)
    return (norms[:, None] + norms[None, :] - 2 * relaxed @ relaxed.T).clamp(min=0)


def contrastive_pairs(
    relaxed: torch.Tensor, similarity: torch.Tensor, margin: float
) -> torch.Tensor:
    """(B, B) s D / 2 + (1 - s) max(margin - D, 0) / 2, D = ||u_i - u_j||^2: similar pairs pulled
    together, dissimilar ones pushed until D reaches the margin (DSH's contrastive loss on relaxed
    codes). Each method reduces it as its authors do."""
    distance = squared_distances(relaxed)
    pushed = (margin - distance).clamp(min=0)
    return 0.5 * (similarity * distance + (1 - similarity) * pushed)


def pair_likelihood(theta: torch.Tensor, similarity: torch.Tensor, margin: float = 0.0):
    """(B, B) negative log-likelihood of each pair's label when a pair with score ``theta`` is
    similar with probability sigmoid(theta - margin) and dissimilar with sigmoid(-theta - margin):
    s log(1 + e^(margin - theta)) + (1 - s) log(1 + e^(margin + theta)).

    At margin 0 it is DPSH's log(1 + e^theta) - s theta; softplus keeps large scores finite.
    """
    similar = torch.nn.functional.softplus(margin - theta)
    dissimilar = torch.nn.functional.softplus(margin + theta)
    return similarity * similar + (1 - similarity) * dissimilar


PAIR_WEIGHTS = ("uniform", "balanced")


def check_pair_weights(pair_weights: str) -> str:
    """``pair_weights`` itself, or a ValueError naming the choices."""
    if pair_weights not in PAIR_WEIGHTS:
        raise ValueError(
            f"method.pair_weights={pair_weights!r}: must be 'uniform' (every pair alike, as the "
            "authors weigh them) or 'balanced' (the similar pairs and the dissimilar pairs weigh "
            "half each, as HashNet weighs them); e.g. method.pair_weights=balanced"
        )
    return pair_weights


def pair_mean(
    pair_losses: torch.Tensor, similarity: torch.Tensor, pair_weights: str = "uniform"
) -> torch.Tensor:
    """The loss of a set of pairs from each pair's loss and its 0/1 similarity.

    ``uniform``: the mean over pairs, so at ten classes the dissimilar pairs, nine in ten, carry
    nine tenths of it. ``balanced``: half the similar pairs' mean plus half the dissimilar
    pairs' (HashNet's w_ij = |S| / |S_1| and |S| / |S_0|, halved so that the weights average 1);
    a kind with no pair adds nothing.
    """
    if pair_weights == "uniform":
        return pair_losses.mean()
    similar = (similarity * pair_losses).sum() / similarity.sum().clamp(min=1)
    dissimilar = ((1 - similarity) * pair_losses).sum() / (1 - similarity).sum().clamp(min=1)
    return (similar + dissimilar) / 2


def cosine_preservation(codes: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between the cosine similarity of two items' codes and that of
    their features, over the pairs (i, i + B/2) of the batch: its first half against its second,
    as the unsupervised BiHalf and GreedyHash code do (a last odd item is left out). The
    features are the target: no gradient flows into them. 0 for a batch of one item."""
    half = len(codes) // 2
    if half == 0:
        return codes.sum() * 0.0
    target = F.cosine_similarity(features[:half], features[half : 2 * half]).detach()
    return F.mse_loss(F.cosine_similarity(codes[:half], codes[half : 2 * half]), target)
