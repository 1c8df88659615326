"""Class targets: one +-1 centre per class, far apart. CSQ's hash centres (Yuan et al., CVPR
2020) and the Bernoulli draws that DPN's target vectors and OrthoHash's codebook are."""

import torch


def sylvester_hadamard(order: int) -> torch.Tensor:
    """The (order, order) +-1 Hadamard matrix of Sylvester's construction; order a power of 2."""
    matrix = torch.ones(1, 1)
    while len(matrix) < order:
        matrix = torch.cat([torch.cat([matrix, matrix], 1), torch.cat([matrix, -matrix], 1)])
    return matrix


def check_enough_codes(method: str, num_classes: int, bits: int) -> None:
    """Refuse more classes than ``bits`` have distinct codes, naming the bits that suffice."""
    if num_classes > 2**bits:
        raise ValueError(
            f"method={method} needs one distinct hash centre per class: num_classes={num_classes} "
            f"is more than the 2**{bits} codes of model.hash_bits={bits}; "
            f"use more bits, e.g. model.hash_bits={max(bits, num_classes.bit_length())}"
        )


def bernoulli_centres(num_classes: int, bits: int, generator: torch.Generator) -> torch.Tensor:
    """(num_classes, bits) distinct rows of independent +-1 bits, each 1 with probability 1/2."""
    while True:  # redraw until distinct; with many spare codes one draw almost always is
        centres = torch.randint(0, 2, (num_classes, bits), generator=generator).float() * 2 - 1
        # a model built on the meta device (shapes only, checkpoints.py) has no values to compare
        if centres.is_meta or len(torch.unique(centres, dim=0)) == num_classes:
            return centres


def hash_centres(num_classes: int, bits: int, generator: torch.Generator) -> torch.Tensor:
    """CSQ's (num_classes, bits) +-1 centres: rows of H and -H where bits is a power of 2 and
    they suffice (every two at Hamming distance >= bits/2), else distinct Bernoulli(1/2) draws."""
    check_enough_codes("csq", num_classes, bits)
    if bits & (bits - 1) == 0 and num_classes <= 2 * bits:
        hadamard = sylvester_hadamard(bits)
        return torch.cat([hadamard, -hadamard])[:num_classes]
    return bernoulli_centres(num_classes, bits, generator)
