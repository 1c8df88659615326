"""Pair similarity: two items are similar when they share a label; without labels, when their
features point the same way."""

import torch
import torch.nn.functional as F


def multi_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Float rows (B, num_classes) of class indices (B,) or multi-hot rows (B, num_classes)."""
    if labels.dim() == 2:
        return labels.float()
    return torch.nn.functional.one_hot(labels, num_classes).float()


def label_similarity(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, B) float 0/1 similarity of class indices (B,) or multi-hot rows (B, num_classes).

    Multi-hot rows share a label when their inner product is positive, so one rule serves both.
    """
    rows = multi_hot(labels, num_classes)
    return (rows @ rows.T > 0).float()


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
