"""Quantisation terms that more than one method uses: how far relaxed codes are from binary."""

import torch


def sign_quantisation(relaxed: torch.Tensor) -> torch.Tensor:
    """Mean over items of ||u - sign(u)||^2 (DPSH's and DTSH's term; sign(0) = 0 as torch's)."""
    return (relaxed - relaxed.sign()).pow(2).sum(dim=1).mean()
