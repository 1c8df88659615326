"""The losses of DSDH, ADSH, BiHalf, GreedyHash-U and DPSH's memory pairs, against their
formulas written out here with plain Python loops, on fixed single-label and multi-hot batches,
with the edge cases each has."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers import METHOD_LATENT, METHOD_MULTI, METHOD_SINGLE
from ssdh_lightning.methods import LatentBatch, build_method
from ssdh_lightning.methods.adsh import updated_codes
from ssdh_lightning.methods.bihalf import bi_half, bi_half_codes
from ssdh_lightning.methods.dsdh import dcc_codes, ridge_classifier
from ssdh_lightning.methods.pairs import cosine_preservation

# 4 items of 4 bits; 3 classes; the memory holds 6 training items, the batch is items 1, 4, 0, 5.
POSITIONS = [1, 4, 0, 5]
TRAIN_SINGLE = [0, 0, 1, 2, 2, 0]
TRAIN_MULTI = [[1, 0, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1], [0, 1, 0], [0, 0, 1]]
# what the memory held before the batch: rows of items seen earlier
EARLIER = [
    [0.2, 0.1, -0.5, 0.7],
    [0.0, 0.0, 0.0, 0.0],
    [-1.1, 0.4, 0.9, -0.2],
    [0.3, -0.8, 0.0, 0.6],
    [0.0, 0.0, 0.0, 0.0],
    [0.5, 0.5, -0.5, -0.5],
]
FEATURES = [
    [1.0, 0.2, 0.0, 0.5, 0.1],
    [0.1, 0.9, 0.3, 0.0, 0.0],
    [0.7, 0.1, 0.1, 0.6, 0.2],
    [0.0, 1.2, 0.4, 0.1, 0.3],
    [0.5, 0.5, 0.5, 0.5, 0.5],
]
LABELLINGS = [(METHOD_SINGLE, TRAIN_SINGLE), (METHOD_MULTI, TRAIN_MULTI)]


def _rows(labels) -> list[list[int]]:
    return (
        labels if isinstance(labels[0], list) else [[int(c == y) for c in range(3)] for y in labels]
    )


def _shares(a: list[int], b: list[int]) -> int:
    return int(any(x and y for x, y in zip(a, b, strict=True)))


def _dot(a, b) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _sign(x: float) -> float:
    return float((x > 0) - (x < 0))


def _cosine(a, b) -> float:
    return _dot(a, b) / math.sqrt(_dot(a, a) * _dot(b, b))


def _memory_after_batch(u) -> list[list[float]]:
    """The memory as the loss sees it: the earlier rows, the batch's own overwritten."""
    memory = [list(row) for row in EARLIER]
    for position, row in zip(POSITIONS, u, strict=True):
        memory[position] = list(row)
    return memory


def _bound(name: str, train_labels, **options):
    method = build_method({"name": name, **options}, hash_bits=4, num_classes=3, train_size=6)
    method.bind_training_set(torch.tensor(train_labels), torch.zeros(6, dtype=torch.int64))
    method.memory.relaxed.copy_(torch.tensor(EARLIER))
    return method


def _batch(labels, latent=METHOD_LATENT, features=None) -> LatentBatch:
    features = torch.zeros(len(latent), 5) if features is None else torch.tensor(features)
    return LatentBatch(
        torch.as_tensor(latent), torch.tensor(labels), features, torch.tensor(POSITIONS)
    )


def _likelihood(u, partners, similar) -> float:
    """Mean over pairs of log(1 + e^theta) - s theta, theta = u_i . v_j / 2."""
    total = 0.0
    for row, similar_row in zip(u, similar, strict=True):
        for partner, s in zip(partners, similar_row, strict=True):
            theta = _dot(row, partner) / 2
            total += math.log(1 + math.exp(theta)) - s * theta
    return total / (len(u) * len(partners))


# --- DPSH with memory pairs -------------------------------------------------------------------


@pytest.mark.parametrize("labels, train", LABELLINGS, ids=["single", "multi"])
def test_dpsh_memory_pairs_the_batch_with_every_training_items_latest_code(labels, train):
    method = _bound("dpsh", train, eta=0.3, pairs="memory")
    loss = method.loss(_batch(labels), None).loss.item()
    memory = _memory_after_batch(METHOD_LATENT)
    similar = [[_shares(a, b) for b in _rows(train)] for a in _rows(labels)]
    quantisation = sum(sum((x - _sign(x)) ** 2 for x in row) for row in METHOD_LATENT) / 4
    expected = _likelihood(METHOD_LATENT, memory, similar) + 0.3 * quantisation
    assert math.isclose(loss, expected, rel_tol=1e-5)
    assert torch.allclose(method.memory.relaxed, torch.tensor(memory))


def test_memory_pairs_give_no_gradient_to_the_partners_and_evaluation_writes_nothing():
    method = _bound("dpsh", TRAIN_SINGLE, pairs="memory")
    latent = torch.tensor(METHOD_LATENT, requires_grad=True)
    method.loss(_batch(METHOD_SINGLE, latent=latent), None).loss.backward()
    assert latent.grad is not None and not method.memory.relaxed.requires_grad
    method.eval()
    before = method.memory.relaxed.clone()
    method.loss(_batch(METHOD_SINGLE, latent=[[9.0] * 4] * 4), None)
    assert torch.equal(method.memory.relaxed, before)


# --- DSDH --------------------------------------------------------------------------------------


def _b_step_objective(b, y, w, u, eta) -> float:
    """||y - W' b||^2 + eta ||b - u||^2 of one item (W: bits x classes)."""
    fit = sum((y[c] - sum(b[k] * w[k][c] for k in range(len(b)))) ** 2 for c in range(len(y)))
    return fit + eta * sum((bk - uk) ** 2 for bk, uk in zip(b, u, strict=True))


def test_dsdh_ridge_classifier_solves_the_regularised_least_squares():
    codes = torch.tensor([[_sign(x) or 1.0 for x in row] for row in METHOD_LATENT])
    targets = torch.tensor(_rows(METHOD_MULTI), dtype=torch.float32)
    w = ridge_classifier(codes, targets, ridge=0.1)
    # the same minimiser from numpy's least squares on the stacked system [B; sqrt(l) I] W = [Y; 0]
    stacked = np.vstack([codes.numpy(), math.sqrt(0.1) * np.eye(4)])
    expected = np.linalg.lstsq(stacked, np.vstack([targets.numpy(), np.zeros((4, 3))]))[0]
    assert np.allclose(w.numpy(), expected, atol=1e-5)


@pytest.mark.parametrize(
    "labels", [METHOD_SINGLE, METHOD_MULTI, [1, 1, 1, 1]], ids=["single", "multi", "one"]
)
def test_dsdh_dcc_codes_no_single_bit_flip_lowers_the_b_step_objective(labels):
    u = torch.tensor(METHOD_LATENT) * 0.2
    targets = torch.tensor(_rows(labels), dtype=torch.float32)
    w = ridge_classifier(u.sign(), targets, 0.1)
    codes = dcc_codes(u, targets, w, eta=0.5, sweeps=10)
    assert set(codes.unique().tolist()) <= {-1.0, 1.0}
    for b, y, u_row in zip(codes.tolist(), targets.tolist(), u.tolist(), strict=True):
        best = _b_step_objective(b, y, w.tolist(), u_row, 0.5)
        for k in range(4):
            flipped = [-x if i == k else x for i, x in enumerate(b)]
            assert _b_step_objective(flipped, y, w.tolist(), u_row, 0.5) >= best - 1e-5


def _squared_distance(u, codes) -> float:
    """Mean over items of ||u - b||^2."""
    return sum(
        sum((x - b) ** 2 for x, b in zip(row, code, strict=True))
        for row, code in zip(u, codes, strict=True)
    ) / len(u)


@pytest.mark.parametrize("labels, train", LABELLINGS, ids=["single", "multi"])
def test_dsdh_loss_pairs_with_the_memory_and_pulls_u_to_its_dcc_codes(labels, train):
    method = _bound("dsdh", train, pairs="memory", quantisation_weight=0.3)
    loss = method.loss(_batch(labels), None).loss.item()
    memory = _memory_after_batch(METHOD_LATENT)
    similar = [[_shares(a, b) for b in _rows(train)] for a in _rows(labels)]
    codes = method.discrete_codes(torch.tensor(METHOD_LATENT), torch.tensor(labels)).tolist()
    expected = _likelihood(METHOD_LATENT, memory, similar) + 0.3 * _squared_distance(
        METHOD_LATENT, codes
    )
    assert math.isclose(loss, expected, rel_tol=1e-5)


def test_dsdh_batch_pairs_and_a_batch_without_positive_pairs_still_train():
    method = build_method({"name": "dsdh", "pairs": "batch", "quantisation_weight": 0.3}, 4, 3)
    labels = [0, 1, 2]  # no two items share a class: each is similar to itself alone
    latent = torch.tensor(METHOD_LATENT[:3], requires_grad=True)
    batch = LatentBatch(latent, torch.tensor(labels), torch.zeros(3, 5), torch.arange(3))
    loss = method.loss(batch, None).loss
    codes = method.discrete_codes(latent, torch.tensor(labels)).tolist()
    similar = [[int(a == b) for b in labels] for a in labels]
    expected = _likelihood(METHOD_LATENT[:3], METHOD_LATENT[:3], similar) + 0.3 * _squared_distance(
        METHOD_LATENT[:3], codes
    )
    assert math.isclose(loss.item(), expected, rel_tol=1e-5)
    loss.backward()
    assert torch.isfinite(latent.grad).all() and latent.grad.abs().sum() > 0


# --- ADSH --------------------------------------------------------------------------------------

V = [
    [1.0, -1.0, 1.0, 1.0],
    [-1.0, -1.0, 1.0, -1.0],
    [1.0, 1.0, -1.0, 1.0],
    [-1.0, 1.0, 1.0, -1.0],
    [1.0, 1.0, 1.0, -1.0],
    [-1.0, -1.0, -1.0, 1.0],
]


def _ratio(train) -> float:
    rows = _rows(train)
    similar = sum(_shares(a, b) for a in rows for b in rows)
    return similar / (len(rows) ** 2 - similar)


def _soft(a, b, ratio) -> float:
    return 1.0 if _shares(a, b) else -ratio


@pytest.mark.parametrize("labels, train", LABELLINGS, ids=["single", "multi"])
def test_adsh_loss_matches_the_authors_square_and_quantisation_terms(labels, train):
    method = _bound("adsh", train, gamma=3.0)
    method.database.copy_(torch.tensor(V))
    ratio = _ratio(train)
    assert math.isclose(method.ratio.item(), ratio, rel_tol=1e-6)
    loss = method.loss(_batch(labels), None).loss.item()
    u = [[math.tanh(x) for x in row] for row in METHOD_LATENT]
    rows, train_rows = _rows(labels), _rows(train)
    square = sum(
        (_dot(u[i], V[j]) - 4 * _soft(rows[i], train_rows[j], ratio)) ** 2
        for i in range(4)
        for j in range(6)
    )
    own = sum((V[p][k] - u[i][k]) ** 2 for i, p in enumerate(POSITIONS) for k in range(4))
    # adsh_loss.py's (square + gamma own) / (B N), and 1 / K (4 bits)
    assert math.isclose(loss, (square + 3.0 * own) / (4 * 6 * 4), rel_tol=1e-5)
    method.eval()  # queries have no learned codes of their own: the square term alone
    evaluated = method.loss(_batch(labels), None).loss.item()
    assert math.isclose(evaluated, square / (4 * 6 * 4), rel_tol=1e-5)


def test_adsh_update_of_the_database_codes_follows_the_authors_coordinate_descent():
    train = TRAIN_MULTI
    ratio = _ratio(train)
    rows = _rows(train)
    sampled = [4, 1, 2]
    u = [[0.3, -0.9, 0.5, 0.1], [0.8, 0.2, -0.6, -0.4], [-0.5, 0.7, 0.2, 0.9]]
    gamma = 2.0
    # Q = -2 K S' U - 2 gamma U-bar; then V_k = -sign(2 V_{-k} U_{-k}' U_k + Q_k), bit after bit
    q = [
        [
            -2 * 4 * sum(_soft(rows[s], rows[j], ratio) * u[m][k] for m, s in enumerate(sampled))
            - (2 * gamma * u[sampled.index(j)][k] if j in sampled else 0.0)
            for k in range(4)
        ]
        for j in range(6)
    ]
    expected = [list(row) for row in V]
    for k in range(4):
        for j in range(6):
            others = sum(
                expected[j][other] * sum(u[m][other] * u[m][k] for m in range(3))
                for other in range(4)
                if other != k
            )
            expected[j][k] = -_sign(2 * others + q[j][k])
    updated = updated_codes(
        torch.tensor(V),
        torch.tensor(rows, dtype=torch.uint8),
        torch.tensor(sampled),
        torch.tensor(u),
        torch.tensor(ratio),
        gamma,
    )
    assert updated.tolist() == expected


def test_adsh_epoch_end_updates_every_row_from_a_seeded_sample_of_the_memory():
    method = _bound("adsh", TRAIN_SINGLE, num_samples=4, sample_seed=3)
    method.database.copy_(torch.tensor(V))
    method.end_training_epoch()
    first = method.database.clone()
    # the same draw from the same state, on another process or after a resume
    again = _bound("adsh", TRAIN_SINGLE, num_samples=4, sample_seed=3)
    again.database.copy_(torch.tensor(V))
    again.end_training_epoch()
    assert torch.equal(again.database, first) and method.updates.item() == 1
    sampled = torch.randperm(6, generator=torch.Generator().manual_seed(3))[:4]
    expected = updated_codes(
        torch.tensor(V),
        method.memory.labels,
        sampled,
        torch.tensor(EARLIER)[sampled],
        method.ratio,
        200.0,
    )
    assert torch.equal(first, expected)


def test_adsh_database_codes_are_learned_for_training_items_and_the_networks_elsewhere():
    method = _bound("adsh", TRAIN_SINGLE)
    method.database.copy_(torch.tensor(V))
    network = torch.tensor(METHOD_LATENT) > 0
    codes = method.database_codes(network, torch.tensor([2, -1, 0, -1]))
    assert codes.tolist() == [
        [x > 0 for x in V[2]],
        network[1].tolist(),
        [x > 0 for x in V[0]],
        network[3].tolist(),
    ]


def test_adsh_on_items_all_of_one_class_has_a_finite_loss():
    method = _bound("adsh", [1] * 6)
    assert method.ratio.item() > 0  # no dissimilar pair: the ratio stays finite
    assert math.isfinite(method.loss(_batch([1, 1, 1, 1]), None).loss.item())
    method.end_training_epoch()
    assert torch.isfinite(method.database).all()


# --- BiHalf and GreedyHash-U ------------------------------------------------------------------


def _cosine_preservation(codes, features) -> float:
    half = len(codes) // 2
    pairs = [(i, i + half) for i in range(half)]
    return sum(
        (_cosine(codes[i], codes[j]) - _cosine(features[i], features[j])) ** 2 for i, j in pairs
    ) / len(pairs)


def test_bi_half_codes_put_each_bit_on_for_the_larger_half_of_the_batch():
    u = torch.tensor([*METHOD_LATENT, [0.2, 0.2, 0.2, 0.2]])
    codes = bi_half_codes(u).tolist()
    for k in range(4):
        on = [u[i, k].item() for i in range(5) if codes[i][k] == 1]
        off = [u[i, k].item() for i in range(5) if codes[i][k] == -1]
        assert len(on) == 2 and len(off) == 3 and min(on) >= max(off)


def test_bi_half_gradient_is_straight_through_plus_gamma_times_u_minus_b():
    u = torch.tensor(METHOD_LATENT, requires_grad=True)
    upstream = torch.arange(16.0).reshape(4, 4)
    (bi_half(u, gamma=6.0) * upstream).sum().backward()
    codes = bi_half_codes(u.detach()).tolist()
    expected = [
        [upstream[i, k].item() + 6.0 * (METHOD_LATENT[i][k] - codes[i][k]) / 16 for k in range(4)]
        for i in range(4)
    ]
    assert torch.allclose(u.grad, torch.tensor(expected))


@pytest.mark.parametrize("labels", [METHOD_SINGLE, METHOD_MULTI], ids=["single", "multi"])
def test_bihalf_loss_matches_the_cosine_preservation_of_its_codes(labels):
    method = build_method({"name": "bihalf"}, hash_bits=4, num_classes=3)
    loss = method.loss(_batch(labels, features=FEATURES[:4]), None).loss.item()
    codes = bi_half_codes(torch.tensor(METHOD_LATENT)).tolist()
    assert math.isclose(loss, _cosine_preservation(codes, FEATURES[:4]), rel_tol=1e-5)


def _batch_centred(features) -> list[list[float]]:
    means = [sum(column) / len(features) for column in zip(*features, strict=True)]
    return [[x - m for x, m in zip(row, means, strict=True)] for row in features]


@pytest.mark.parametrize("labels", [METHOD_SINGLE, METHOD_MULTI], ids=["single", "multi"])
@pytest.mark.parametrize("centre", [True, False], ids=["centred", "authors"])
def test_greedyhash_u_loss_is_cosine_preservation_of_signs_plus_the_cubic_penalty(labels, centre):
    config = {"name": "greedyhash_u", "alpha": 0.7, "centre_features": centre}
    method = build_method(config, hash_bits=4, num_classes=3)
    # row 3 has a 0, which sign keeps at 0 (as torch.sign in the authors' code)
    loss = method.loss(_batch(labels, features=FEATURES[:4]), None).loss.item()
    signs = [[_sign(x) for x in row] for row in METHOD_LATENT]
    cubic = sum(abs(abs(x) - 1) ** 3 for row in METHOD_LATENT for x in row) / 16
    features = _batch_centred(FEATURES[:4]) if centre else FEATURES[:4]
    expected = _cosine_preservation(signs, features) + 0.7 * cubic
    assert math.isclose(loss, expected, rel_tol=1e-5)


def test_greedyhash_u_centres_the_features_by_default():
    """ReLU features whose cosines all lie near 1 (above 0.95 here): the default loss is that of
    the features less their batch mean."""
    features = [[1.0, 0.9, 0.1, 0.0, 0.2], [0.9, 1.0, 0.2, 0.1, 0.0]] * 2
    features[2], features[3] = [1.0, 0.8, 0.3, 0.0, 0.1], [0.8, 1.0, 0.0, 0.2, 0.1]
    batch = _batch(METHOD_SINGLE, features=features)
    options = {"default": {}, "raw": {"centre_features": False}}
    losses = {
        name: build_method({"name": "greedyhash_u", **option}, hash_bits=4, num_classes=3)
        .loss(batch, None)
        .loss.item()
        for name, option in options.items()
    }
    signs = [[_sign(x) for x in row] for row in METHOD_LATENT]
    cubic = sum(abs(abs(x) - 1) ** 3 for row in METHOD_LATENT for x in row) / 16
    centred = _cosine_preservation(signs, _batch_centred(features)) + 0.1 * cubic
    assert math.isclose(losses["default"], centred, rel_tol=1e-5)
    assert not math.isclose(losses["raw"], centred, rel_tol=1e-2)


def test_cosine_preservation_leaves_an_odd_last_item_out_and_a_single_item_scores_zero():
    codes = torch.tensor([[1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    features = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    expected = _cosine_preservation(codes[:2].tolist(), features[:2].tolist())
    assert math.isclose(cosine_preservation(codes, features).item(), expected, rel_tol=1e-6)
    assert cosine_preservation(codes[:1], features[:1]).item() == 0.0


def test_the_unsupervised_losses_give_the_features_no_gradient():
    features = torch.tensor(FEATURES[:4], requires_grad=True)
    latent = torch.tensor(METHOD_LATENT, requires_grad=True)
    for name in ("bihalf", "greedyhash_u"):
        method = build_method({"name": name}, hash_bits=4, num_classes=3)
        batch = LatentBatch(latent, torch.full((4,), -1), features, torch.arange(4))
        method.loss(batch, None).loss.backward()
    assert features.grad is None and latent.grad.abs().sum() > 0
