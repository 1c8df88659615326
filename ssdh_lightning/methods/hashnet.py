"""HashNet (Cao et al., ICCV 2017): weighted pairwise likelihood, similar/dissimilar balanced."""

import torch
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.pairs import label_similarity, pair_likelihood, pair_mean


def hashnet_loss(
    relaxed: torch.Tensor, labels: torch.Tensor, num_classes: int, alpha: float
) -> torch.Tensor:
    """(1/|S|) sum over in-batch pairs of w_ij (log(1 + e^(alpha h_i.h_j)) - s_ij alpha h_i.h_j).

    w_ij = |S| / |S_1| for similar pairs and |S| / |S_0| for dissimilar ones, so each kind of
    pair weighs half whatever its share of the batch; a kind with no pairs adds nothing. The
    weights sum to 2 |S|: twice the balanced mean of ``pair_mean``.
    """
    similarity = label_similarity(labels, num_classes)
    theta = alpha * (relaxed @ relaxed.T)
    return 2 * pair_mean(pair_likelihood(theta, similarity), similarity, "balanced")


@METHODS.register("hashnet")
class HashNet(SignCodes):
    """h = tanh(beta * latent), beta = (1 + gamma * t)^power at every ``step_size``-th training
    step t (thuml/HashNet pytorch/src/network.py: step_size 200, gamma 0.005, power 0.5); the
    pairwise likelihood scaled by ``alpha`` = 10 / hash_bits (train.py's sigmoid_param) unless
    given. ``steps`` and ``beta`` are buffers: the checkpoint keeps where the schedule is."""

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        alpha: float | None = None,
        step_size: int = 200,
        gamma: float = 0.005,
        power: float = 0.5,
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.alpha = 10.0 / hash_bits if alpha is None else alpha
        self.step_size, self.gamma, self.power = step_size, gamma, power
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.register_buffer("beta", torch.ones(()))

    def relaxed(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.beta * latent)

    def start_training_step(self) -> None:
        # as network.py's forward: count the step, then raise beta if it is a step_size-th; in
        # tensors, so that a step on a GPU does not wait for the device to read the count
        self.steps += 1
        raised = (1.0 + self.gamma * self.steps) ** self.power
        self.beta.copy_(torch.where(self.steps % self.step_size == 0, raised, self.beta))

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        latent, labels = batch.latent, batch.labels
        relaxed = self.relaxed(latent)
        return MethodLoss(hashnet_loss(relaxed, labels, self.num_classes, self.alpha), None)
