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


def contrastive_loss(
    relaxed: torch.Tensor, similarity: torch.Tensor, margin: float
) -> torch.Tensor:
    """Mean over in-batch pairs of s d / 2 + (1 - s) max(margin - d, 0) / 2, d = ||u_i - u_j||^2:
    similar pairs pulled together, dissimilar ones pushed until d reaches the margin (DSH's
    contrastive loss on relaxed codes)."""
    distance = (relaxed.unsqueeze(1) - relaxed.unsqueeze(0)).pow(2).sum(dim=2)
    pushed = (margin - distance).clamp(min=0)
    return (similarity * distance + (1 - similarity) * pushed).mean() / 2
