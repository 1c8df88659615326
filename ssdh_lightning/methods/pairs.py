"""Pair similarity within a batch: two items are similar when they share a label."""

import torch


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
