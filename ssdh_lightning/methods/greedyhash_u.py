"""GreedyHash, unsupervised (Su et al., NeurIPS 2018): codes that keep the features' cosine
similarity, sign forward with the gradient passed straight through, cubic penalty."""

from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.greedyhash import cubic_penalty, sign_straight_through
from ssdh_lightning.methods.pairs import cosine_preservation


@METHODS.register("greedyhash_u")
class GreedyHashUnsupervised(SignCodes):
    """h = the latent layer; b = sign(h), the gradient straight through; loss: the mean squared
    difference of cos(b_i, b_j) and cos(x_i, x_j) over the pairs of the batch's two halves (x:
    the backbone's features) + ``alpha`` * cubic penalty; ssppp/GreedyHash unsupervised_vgg.py
    (``loss1 + 0.1 * loss2``). Uses no labels. The latent layer starts with a bias of 0 (the
    authors' plain nn.Linear)."""

    uses_labels = False
    latent_bias = 0.0

    def __init__(self, hash_bits: int, num_classes: int, alpha: float = 0.1) -> None:
        super().__init__(hash_bits, num_classes)
        self.alpha = alpha

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        similarity = cosine_preservation(sign_straight_through(batch.latent), batch.features)
        return MethodLoss(similarity + self.alpha * cubic_penalty(batch.latent), None)
