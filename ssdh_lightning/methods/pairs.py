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
