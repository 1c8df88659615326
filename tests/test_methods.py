"""Method losses against direct implementations of the papers' formulas, on small batches."""

import math

import pytest
import torch

from helpers import (
    CLASSIFIER_BIAS,
    CLASSIFIER_WEIGHTS,
    METHOD_LATENT,
    METHOD_MULTI,
    METHOD_SINGLE,
    fixed_classifier,
    latent_batch,
)
from ssdh_lightning.methods import (
    CSQ,
    METHODS,
    GreedyHash,
    HashNet,
    Lin2015,
    build_method,
)
from ssdh_lightning.methods.csq import csq_loss
from ssdh_lightning.methods.csq_centres import hash_centres
from ssdh_lightning.methods.dpsh import memory_pair_likelihood
from ssdh_lightning.methods.greedyhash import cubic_penalty, sign_straight_through
from ssdh_lightning.methods.hashnet import hashnet_loss
from ssdh_lightning.methods.pairs import label_similarity
from ssdh_lightning.methods.quantisation import sign_quantisation
from ssdh_lightning.methods.ssdh import balance_term, binarisation_term


def _direct_dpsh(u: list[list[float]], similar: list[list[int]], eta: float) -> float:
    n = len(u)
    pairs = 0.0
    for i in range(n):
        for j in range(n):
            theta = sum(a * b for a, b in zip(u[i], u[j], strict=True)) / 2
            pairs += math.log(1 + math.exp(theta)) - similar[i][j] * theta
    # sign(0) = 0, as torch.sign in the authors' DPSH-pytorch
    quant = sum(sum((x - _sign(x)) ** 2 for x in row) for row in u) / n
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
        similarity = label_similarity(labels, num_classes=3)
        expected = _direct_dpsh(u.tolist(), similarity.int().tolist(), eta=0.1)
        loss = memory_pair_likelihood(u, u, similarity) + 0.1 * sign_quantisation(u)
        assert math.isclose(loss.item(), expected, rel_tol=1e-5)


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
    tie = torch.tensor([-1.0, 1.0, -1.0, 1.0])
    single = torch.tensor([0, 2, 1])
    expected = _direct_csq(u.tolist(), [centres[i].tolist() for i in single.tolist()], 1e-4)
    assert math.isclose(csq_loss(u, single, centres, tie, 1e-4).item(), expected, rel_tol=1e-5)
    # classes 0+1 average to [1, 0, 0, -1]: the ties take the tie centre's bits (1 and -1);
    # classes 0+1+2 to [1, -1, -1, -1]/3
    multi = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 0, 1]])
    targets = [[1.0, 1.0, -1.0, -1.0], [1.0, -1.0, -1.0, -1.0], centres[2].tolist()]
    expected = _direct_csq(u.tolist(), targets, 1e-4)
    assert math.isclose(csq_loss(u, multi, centres, tie, 1e-4).item(), expected, rel_tol=1e-5)


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


def test_ssdh_terms_match_the_authors_caffe_layers():
    # K1: -sum (h - 0.5)^2 / (2 * count); K2 on each image's mean over its 3 bits: / (2 * N)
    h = [[0.9, 0.1, 0.6], [0.2, 0.3, 0.4]]
    binarisation = -sum(sum((x - 0.5) ** 2 for x in row) for row in h) / (2 * 6)
    balance = sum((sum(row) / 3 - 0.5) ** 2 for row in h) / (2 * 2)
    probs = torch.tensor(h)
    assert math.isclose(binarisation_term(probs).item(), binarisation, rel_tol=1e-6)
    assert math.isclose(balance_term(probs).item(), balance, rel_tol=1e-5)


# The method objects on one fixed batch: 4 items, 4 bits, 3 classes; a latent value of exactly 0
# (a tie for every code rule) and a multi-hot batch whose rows share labels unevenly.


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _sign(x: float) -> float:
    return (x > 0) - (x < 0)


def _logits(rows: list[list[float]]) -> list[list[float]]:
    return [
        [
            sum(w * x for w, x in zip(weights, row, strict=True)) + b
            for weights, b in zip(CLASSIFIER_WEIGHTS, CLASSIFIER_BIAS, strict=True)
        ]
        for row in rows
    ]


def _softmax_ce(logits: list[list[float]], labels: list[int]) -> float:
    total = sum(
        math.log(sum(math.exp(z) for z in row)) - row[y]
        for row, y in zip(logits, labels, strict=True)
    )
    return total / len(labels)


def _sigmoid_ce(logits: list[list[float]], labels: list[list[int]]) -> float:
    cells = [
        (z, y) for row, ys in zip(logits, labels, strict=True) for z, y in zip(row, ys, strict=True)
    ]
    total = -sum(y * math.log(_sigmoid(z)) + (1 - y) * math.log(1 - _sigmoid(z)) for z, y in cells)
    return total / len(cells)


def _classification(logits, labels) -> float:
    return (
        _sigmoid_ce(logits, labels) if isinstance(labels[0], list) else _softmax_ce(logits, labels)
    )


def _probs() -> list[list[float]]:
    return [[_sigmoid(x) for x in row] for row in METHOD_LATENT]


def _direct_lin2015(labels) -> float:
    return _classification(_logits(_probs()), labels)


def _direct_ssdh(labels, weights: tuple[float, float, float]) -> float:
    h = _probs()
    k1 = -sum((x - 0.5) ** 2 for row in h for x in row) / (2 * 16)
    k2 = sum((sum(row) / 4 - 0.5) ** 2 for row in h) / (2 * 4)
    return weights[0] * _classification(_logits(h), labels) + weights[1] * k1 + weights[2] * k2


def _similar(labels) -> list[list[int]]:
    rows = (
        labels if isinstance(labels[0], list) else [[int(c == y) for c in range(3)] for y in labels]
    )
    return [[int(any(a and b for a, b in zip(r, s, strict=True))) for s in rows] for r in rows]


def _direct_greedyhash(labels: list[int], alpha: float) -> float:
    codes = [[float(_sign(x)) for x in row] for row in METHOD_LATENT]
    cubic = sum(abs(abs(x) - 1) ** 3 for row in METHOD_LATENT for x in row) / 16
    return _softmax_ce(_logits(codes), labels) + alpha * cubic


def _direct_csq_targets(labels, centres: list[list[float]], tie: list[float]) -> list[list[float]]:
    if not isinstance(labels[0], list):
        return [centres[y] for y in labels]
    targets = []
    for row in labels:
        mine = [centres[c] for c in range(3) if row[c]]
        mean = [sum(bits) / len(mine) for bits in zip(*mine, strict=True)]
        targets.append([tie[k] if m == 0 else float(_sign(m)) for k, m in enumerate(mean)])
    return targets


@pytest.mark.parametrize("labels", [METHOD_SINGLE, METHOD_MULTI], ids=["single", "multi"])
def test_method_objects_losses_match_the_papers_formulas(labels):
    latent, target = torch.tensor(METHOD_LATENT), torch.tensor(labels)
    tanh = [[math.tanh(x) for x in row] for row in METHOD_LATENT]

    def loss(config: dict) -> float:
        method = build_method(config, hash_bits=4, num_classes=3)
        return method.loss(
            latent_batch(latent, target), fixed_classifier() if method.classifies else None
        ).loss.item()

    assert math.isclose(loss({"name": "lin2015"}), _direct_lin2015(labels), rel_tol=1e-5)
    ssdh = {
        "name": "ssdh",
        "binarisation_weight": 0.5,
        "balance_weight": 2.0,
    }
    assert math.isclose(loss(ssdh), _direct_ssdh(labels, (1.0, 0.5, 2.0)), rel_tol=1e-5)
    dpsh = {"name": "dpsh", "eta": 0.3}
    assert math.isclose(
        loss(dpsh), _direct_dpsh(METHOD_LATENT, _similar(labels), 0.3), rel_tol=1e-5
    )
    # HashNet before its first step: beta 1, alpha 10 / bits
    hashnet = {"name": "hashnet"}
    assert math.isclose(
        loss(hashnet), _direct_hashnet(tanh, _similar(labels), 10 / 4), rel_tol=1e-5
    )
    csq = build_method({"name": "csq"}, hash_bits=4, num_classes=3)
    targets = _direct_csq_targets(labels, csq.centres.tolist(), csq.tie_centre.tolist())
    expected = _direct_csq(tanh, targets, 0.05)
    assert math.isclose(
        csq.loss(latent_batch(latent, target), None).loss.item(), expected, rel_tol=1e-5
    )
    if labels is METHOD_SINGLE:
        greedy = {"name": "greedyhash", "alpha": 0.7}
        assert math.isclose(loss(greedy), _direct_greedyhash(labels, 0.7), rel_tol=1e-5)


def test_codes_are_sigmoid_above_half_or_sign_above_zero_and_a_zero_is_off():
    latent = torch.tensor(METHOD_LATENT)
    expected = [
        [x > 0 for x in row] for row in METHOD_LATENT
    ]  # sigmoid(x) > 0.5 and sign(x) > 0 alike
    for name in METHODS:
        method = build_method({"name": name}, hash_bits=4, num_classes=3, train_size=4)
        codes = method.codes(latent)
        assert codes.dtype == torch.bool and codes.tolist() == expected, name
    # 1e-9 > 0, but sigmoid(1e-9) rounds to 0.5 in float32: the paper's rule says off
    tiny = torch.tensor([[1e-9]])
    assert not Lin2015(1, 2).codes(tiny).item() and HashNet(1, 2).codes(tiny).item()


def test_hashnet_raises_beta_every_step_size_steps_and_keeps_it_in_its_state():
    method = HashNet(hash_bits=8, num_classes=3)
    for step in range(1, 401):
        method.start_training_step()
        # thuml/HashNet network.py: scale = (1 + 0.005 * iter) ** 0.5 at every 200th iteration
        expected = 1.0 if step < 200 else (2.0**0.5 if step < 400 else 3.0**0.5)
        assert math.isclose(method.beta.item(), expected, rel_tol=1e-6), step
    restored = HashNet(hash_bits=8, num_classes=3)
    restored.load_state_dict(method.state_dict())
    assert restored.steps.item() == 400 and math.isclose(
        restored.beta.item(), 3.0**0.5, rel_tol=1e-6
    )


def test_csq_centres_come_back_from_the_state_dict_not_from_a_new_draw():
    drawn = CSQ(hash_bits=12, num_classes=5, centre_seed=1)  # 12 bits: Bernoulli draws
    other = CSQ(hash_bits=12, num_classes=5, centre_seed=2)
    assert not torch.equal(drawn.centres, other.centres)
    other.load_state_dict(drawn.state_dict())
    assert torch.equal(other.centres, drawn.centres)
    assert torch.equal(other.tie_centre, drawn.tie_centre)


def test_a_method_config_may_name_only_the_projects_methods():
    with pytest.raises(ValueError, match=r"'os.system' is not one of .*lin2015, ssdh, .*dpsh"):
        build_method({"_target_": "os.system"}, hash_bits=8, num_classes=3)
    with pytest.raises(ValueError, match=r"'builtins.open' is not one of .*lin2015, ssdh, .*dpsh"):
        build_method({"name": "builtins.open"}, hash_bits=8, num_classes=3)
    # a checkpoint written before the registry names its method by its class's path
    legacy = build_method({"_target_": "ssdh_lightning.methods.DPSH", "eta": 0.2}, 8, 3)
    assert legacy.name == "dpsh" and legacy.eta == 0.2
    with pytest.raises(ValueError, match=r"method=dpsh: .*'lr'.*conf/method/dpsh.yaml"):
        build_method({"name": "dpsh", "lr": 1}, 8, 3)


def test_greedyhash_refuses_multi_hot_labels_with_what_to_change():
    method = GreedyHash(hash_bits=8, num_classes=3)
    method.check_labels(torch.tensor(METHOD_SINGLE))
    with pytest.raises(
        ValueError, match=r"method=greedyhash trains on single-label .*method=lin2015"
    ):
        method.check_labels(torch.tensor(METHOD_MULTI))
    with pytest.raises(ValueError, match=r"3 columns but .*num_classes=5"):
        Lin2015(hash_bits=8, num_classes=5).check_labels(torch.tensor(METHOD_MULTI))
