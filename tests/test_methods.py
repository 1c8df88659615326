"""Method losses against direct implementations of the papers' formulas, on small batches."""

import math

import pytest
import torch

from ssdh_lightning.methods.csq import csq_loss
from ssdh_lightning.methods.csq_centres import hash_centres
from ssdh_lightning.methods.dpsh import dpsh_loss
from ssdh_lightning.methods.greedyhash import cubic_penalty, sign_straight_through
from ssdh_lightning.methods.hashnet import hashnet_loss
from ssdh_lightning.methods.pairs import label_similarity
from ssdh_lightning.methods.ssdh import balance_term, binarisation_term


def _direct_dpsh(u: list[list[float]], similar: list[list[int]], eta: float) -> float:
    n = len(u)
    pairs = 0.0
    for i in range(n):
        for j in range(n):
            theta = sum(a * b for a, b in zip(u[i], u[j], strict=True)) / 2
            pairs += math.log(1 + math.exp(theta)) - similar[i][j] * theta
    quant = sum(sum((x - math.copysign(1.0, x)) ** 2 for x in row) for row in u) / n
    return pairs / (n * n) + eta * quant


def test_label_similarity_single_and_multi_hot():
    single = label_similarity(torch.tensor([0, 1, 0]), num_classes=3)
    assert single.tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    multi = label_similarity(torch.tensor([[1, 1, 0], [0, 1, 0], [0, 0, 1]]), num_classes=3)
    assert multi.tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]


def test_dpsh_loss_matches_the_paper_formula_single_and_multi_label():
    u = torch.tensor([[0.5, -1.2, 3.0], [-0.3, 0.8, 2.0], [1.5, 1.5, -0.7], [-2.0, 0.1, 0.4]])
    for labels in (
        torch.tensor([0, 1, 0, 2]),
        torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]]),
    ):
        similar = label_similarity(labels, num_classes=3).int().tolist()
        expected = _direct_dpsh(u.tolist(), similar, eta=0.1)
        assert math.isclose(dpsh_loss(u, labels, 3, eta=0.1).item(), expected, rel_tol=1e-5)


def _direct_hashnet(h: list[list[float]], similar: list[list[int]], alpha: float) -> float:
    n = len(h)
    pairs = [(i, j) for i in range(n) for j in range(n)]
    count = {1: sum(similar[i][j] for i, j in pairs)}
    count[0] = len(pairs) - count[1]
    total = 0.0
    for i, j in pairs:
        theta = alpha * sum(a * b for a, b in zip(h[i], h[j], strict=True))
        weight = len(pairs) / count[similar[i][j]]
        total += weight * (math.log(1 + math.exp(theta)) - similar[i][j] * theta)
    return total / len(pairs)


def test_hashnet_loss_matches_the_paper_formula_single_and_multi_label():
    h = torch.tanh(torch.tensor([[0.5, -1.2, 3.0], [-0.3, 0.8, 2.0], [1.5, 1.5, -0.7]]))
    for labels in (torch.tensor([0, 1, 0]), torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0]])):
        similar = label_similarity(labels, num_classes=3).int().tolist()
        expected = _direct_hashnet(h.tolist(), similar, alpha=10 / 3)
        actual = hashnet_loss(h, labels, 3, alpha=10 / 3).item()
        assert math.isclose(actual, expected, rel_tol=1e-5)


def test_csq_centres_hadamard_rows_far_apart_and_bernoulli_distinct():
    generator = torch.Generator().manual_seed(0)
    centres = hash_centres(10, 16, generator)
    distances = [
        sum(a != b for a, b in zip(centres[i].tolist(), centres[j].tolist(), strict=True))
        for i in range(10)
        for j in range(i + 1, 10)
    ]
    assert min(distances) >= 8
    drawn = hash_centres(10, 48, generator)
    assert set(drawn.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(row) for row in drawn.tolist()}) == 10


def test_csq_with_more_classes_than_codes_names_the_fix():
    with pytest.raises(ValueError, match=r"num_classes=10 .*model.hash_bits=3.*hash_bits=4"):
        hash_centres(10, 3, torch.Generator())


def _direct_csq(u: list[list[float]], targets: list[list[float]], weight: float) -> float:
    cells = [
        (x, c)
        for row, centre in zip(u, targets, strict=True)
        for x, c in zip(row, centre, strict=True)
    ]
    bce = 0.0
    for x, c in cells:
        p, t = (x + 1) / 2, (c + 1) / 2
        bce -= t * math.log(p) + (1 - t) * math.log(1 - p)
    quant = sum((abs(x) - 1) ** 2 for x, _ in cells)
    return bce / len(cells) + weight * quant / len(cells)


def test_csq_loss_matches_the_paper_formula_single_and_multi_label():
    centres = torch.tensor(
        [[1.0, 1.0, -1.0, -1.0], [1.0, -1.0, 1.0, -1.0], [-1.0, -1.0, -1.0, 1.0]]
    )
    u = torch.tanh(
        torch.tensor([[0.5, -1.2, 3.0, 0.2], [-0.3, 0.8, 2.0, -1.0], [1.5, 1.5, -0.7, 0.9]])
    )
    single = torch.tensor([0, 2, 1])
    expected = _direct_csq(u.tolist(), [centres[i].tolist() for i in single.tolist()], 1e-4)
    assert math.isclose(csq_loss(u, single, centres, 1e-4).item(), expected, rel_tol=1e-5)
    # classes 0+1 average to [1, 0, 0, -1] -> ties to +1; classes 0+1+2 to [1, -1, -1, -1]/3
    multi = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 0, 1]])
    targets = [[1.0, 1.0, 1.0, -1.0], [1.0, -1.0, -1.0, -1.0], centres[2].tolist()]
    expected = _direct_csq(u.tolist(), targets, 1e-4)
    assert math.isclose(csq_loss(u, multi, centres, 1e-4).item(), expected, rel_tol=1e-5)


def test_greedyhash_sign_passes_the_gradient_straight_through():
    h = torch.tensor([[0.5, -2.0, 0.1]], requires_grad=True)
    codes = sign_straight_through(h)
    assert codes.tolist() == [[1.0, -1.0, 1.0]]
    (codes * torch.tensor([[3.0, -1.0, 2.0]])).sum().backward()
    assert h.grad.tolist() == [[3.0, -1.0, 2.0]]


def test_greedyhash_cubic_penalty_matches_the_formula():
    h = [[0.5, -2.0, 0.1], [1.0, -0.3, 3.0]]
    expected = sum(abs(abs(x) - 1) ** 3 for row in h for x in row) / 6
    assert math.isclose(cubic_penalty(torch.tensor(h)).item(), expected, rel_tol=1e-6)


def test_ssdh_terms_match_the_paper_formulas():
    h = [[0.9, 0.1, 0.6], [0.2, 0.3, 0.4]]
    binarisation = -sum(sum((x - 0.5) ** 2 for x in row) for row in h) / 2
    balance = sum((sum(row) / 3 - 0.5) ** 2 for row in h) / 2
    probs = torch.tensor(h)
    assert math.isclose(binarisation_term(probs).item(), binarisation, rel_tol=1e-6)
    assert math.isclose(balance_term(probs).item(), balance, rel_tol=1e-5)
