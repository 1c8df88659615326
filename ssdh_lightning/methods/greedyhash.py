"""GreedyHash (Su et al., NeurIPS 2018): sign forward, gradient straight through, cubic penalty."""

import torch


class _SignStraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, relaxed: torch.Tensor) -> torch.Tensor:
        return relaxed.sign()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        # the greedy step: the loss's gradient at b = sign(h) is applied to h unchanged
        return grad


def sign_straight_through(relaxed: torch.Tensor) -> torch.Tensor:
    """sign(h) in the forward pass; d sign / d h taken as the identity in the backward pass."""
    return _SignStraightThrough.apply(relaxed)


def cubic_penalty(relaxed: torch.Tensor) -> torch.Tensor:
    """Mean over bits of | |h| - 1 |^3, the paper's term pulling h towards sign(h)."""
    return (relaxed.abs() - 1).abs().pow(3).mean()
