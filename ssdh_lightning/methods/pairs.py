"""Pair similarity within a batch: two items are similar when they share a label."""

import torch


def label_similarity(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, B) float 0/1 similarity of class indices (B,) or multi-hot rows (B, num_classes).

    Multi-hot rows share a label when their inner product is positive, so one rule serves both.
    """
    one_hot = (
        labels.float()
        if labels.dim() == 2
        else torch.nn.functional.one_hot(labels, num_classes).float()
    )
    return (one_hot @ one_hot.T > 0).float()


def pair_likelihood(theta: torch.Tensor, similarity: torch.Tensor, margin: float = 0.0):
    """(B, B) negative log-likelihood of each pair's label when a pair with score ``theta`` is
    similar with probability sigmoid(theta - margin) and dissimilar with sigmoid(-theta - margin):
    s log(1 + e^(margin - theta)) + (1 - s) log(1 + e^(margin + theta)).

    At margin 0 it is DPSH's log(1 + e^theta) - s theta; softplus keeps large scores finite.
    """
    similar = torch.nn.functional.softplus(margin - theta)
    dissimilar = torch.nn.functional.softplus(margin + theta)
    return similarity * similar + (1 - similarity) * dissimilar
