"""SSDH's extra terms (Yang, Lin, Chen, TPAMI 2017) on the latent sigmoid layer."""

import torch


def binarisation_term(probs: torch.Tensor) -> torch.Tensor:
    """-(1/N) sum_n ||h_n - 0.5||^2: lower as each unit moves away from 0.5."""
    return -(probs - 0.5).pow(2).sum(dim=1).mean()


def balance_term(probs: torch.Tensor) -> torch.Tensor:
    """(1/N) sum_n (mean_k h_nk - 0.5)^2: each image's own mean over its bits, as the paper
    writes it, so every code has about half its bits on (not the batch's mean per unit)."""
    return (probs.mean(dim=1) - 0.5).pow(2).mean()
