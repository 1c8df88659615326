"""HashNet (Cao et al., ICCV 2017): weighted pairwise likelihood, similar/dissimilar balanced."""

import torch
import torch.nn.functional as F

from ssdh_lightning.methods.pairs import label_similarity


def hashnet_loss(
    relaxed: torch.Tensor, labels: torch.Tensor, num_classes: int, alpha: float
) -> torch.Tensor:
    """(1/|S|) sum over in-batch pairs of w_ij (log(1 + e^(alpha h_i.h_j)) - s_ij alpha h_i.h_j).

    w_ij = |S| / |S_1| for similar pairs and |S| / |S_0| for dissimilar ones, so each kind of
    pair weighs half whatever its share of the batch; a kind with no pairs adds nothing.
    """
    similarity = label_similarity(labels, num_classes)
    theta = alpha * (relaxed @ relaxed.T)
    pair_loss = F.softplus(theta) - similarity * theta
    similar_count = similarity.sum().clamp(min=1)
    dissimilar_count = (1 - similarity).sum().clamp(min=1)
    weights = similarity / similar_count + (1 - similarity) / dissimilar_count
    return (weights * pair_loss).sum()
