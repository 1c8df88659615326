"""CSQ's loss (Yuan et al., CVPR 2020): binary cross-entropy to each item's hash centre."""

import torch
import torch.nn.functional as F


def target_centres(labels: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Each item's +-1 centre: its class's for class indices (B,), the binarised mean of its
    classes' centres for multi-hot rows (B, C); a tie (mean 0) goes to +1 so targets stay +-1."""
    if labels.dim() == 1:
        return centres[labels]
    mean = labels.float() @ centres / labels.float().sum(dim=1, keepdim=True).clamp(min=1)
    return torch.where(mean >= 0, 1.0, -1.0)


def csq_loss(
    relaxed: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor, quantisation_weight: float
) -> torch.Tensor:
    """Mean BCE between (u + 1)/2 and (c + 1)/2 per bit, plus weight * mean (|u| - 1)^2."""
    target = (target_centres(labels, centres) + 1) / 2
    central = F.binary_cross_entropy((relaxed + 1) / 2, target)
    quantisation = (relaxed.abs() - 1).pow(2).mean()
    return central + quantisation_weight * quantisation
