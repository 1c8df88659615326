"""The pairwise and triplet methods (dsh, dhn, dtsh, lcdsh, dch, dfh) against their formulas
written out here with plain loops, on fixed single-label and multi-hot batches and on the edge
cases each has: no similar pair, one class only, a margin reached, one item."""

from __future__ import annotations

import math

import pytest
import torch

from ssdh_lightning.methods import DFH, DTSH, LatentBatch, build_method
from ssdh_lightning.methods.dfh import class_weights, update_centres
from ssdh_lightning.methods.dhn import log_cosh

# 5 items, 4 bits; a latent value of exactly 0 (sign 0, as torch's and the authors' sign).
LATENT = [
    [0.5, -1.2, 3.0, 0.2],
    [-0.3, 0.8, 2.0, -1.0],
    [1.5, 1.5, -0.7, 0.9],
    [0.0, -0.4, 0.3, -2.0],
    [0.7, 0.1, -1.1, 0.6],
]
BITS = 4
# (labels, num_classes): class ids, multi-hot rows sharing labels unevenly, every item of one
# class (no dissimilar pair), every item of its own class (no similar pair but an item with
# itself)
LABEL_SETS = {
    "single": ([0, 2, 1, 0, 2], 3),
    "multi": ([[1, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1], [0, 1, 1]], 3),
    "one_class": ([1, 1, 1, 1, 1], 3),
    "no_similar_pair": ([0, 1, 2, 3, 4], 5),
}
# DFH's class centres before the batch (one row per class)
CENTRES = [[1, -1, 1, 1], [-1, -1, 1, -1], [1, 1, -1, -1], [-1, 1, 1, 1], [1, 1, 1, -1]]


def _sign(x: float) -> float:
    return float((x > 0) - (x < 0))


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def _label_rows(labels, num_classes: int) -> list[list[int]]:
    if isinstance(labels[0], list):
        return labels
    return [[int(c == y) for c in range(num_classes)] for y in labels]


def _similar(labels, num_classes: int) -> list[list[int]]:
    rows = _label_rows(labels, num_classes)
    return [[int(_dot(r, s) > 0) for s in rows] for r in rows]


def _loss(options: dict, labels, num_classes: int, latent=LATENT) -> torch.Tensor:
    method = build_method(options, hash_bits=len(latent[0]), num_classes=num_classes)
    return _method_loss(method, latent, labels)


def _method_loss(method, latent, labels) -> torch.Tensor:
    z = torch.tensor(latent, requires_grad=True)
    batch = LatentBatch(z, torch.as_tensor(labels), torch.zeros(len(z), 3), torch.arange(len(z)))
    return method.loss(batch, None).loss


def _loss_and_gradient(options: dict, labels, num_classes: int, latent) -> tuple[float, list]:
    """The loss and its gradient with respect to the latent layer."""
    method = build_method(options, hash_bits=len(latent[0]), num_classes=num_classes)
    z = torch.tensor(latent, requires_grad=True)
    batch = LatentBatch(z, torch.as_tensor(labels), torch.zeros(len(z), 3), torch.arange(len(z)))
    loss = method.loss(batch, None).loss
    loss.backward()
    return loss.item(), z.grad.tolist()


# --- DSH -----------------------------------------------------------------------------------------


def _direct_dsh(u, similar, margin: float, alpha: float) -> float:
    n = len(u)
    pairs = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            d = sum((a - b) ** 2 for a, b in zip(u[i], u[j], strict=True))
            s = similar[i][j]
            pairs += 0.5 * s * d + 0.5 * (1 - s) * max(margin - d, 0.0)
    regulariser = sum(abs(abs(x) - 1) for row in u for x in row) / n
    return pairs / max(n * (n - 1), 1) + alpha * regulariser


@pytest.mark.parametrize("case", LABEL_SETS)
def test_dsh_loss_is_the_authors_contrastive_loss_and_regulariser(case):
    labels, classes = LABEL_SETS[case]
    similar = _similar(labels, classes)
    # the default margin, 2 x bits = 8, leaves some dissimilar pairs inside it and some beyond
    expected = _direct_dsh(LATENT, similar, margin=8.0, alpha=0.01)
    actual = _loss({"name": "dsh"}, labels, classes).item()
    assert math.isclose(actual, expected, rel_tol=1e-5)
    other = _direct_dsh(LATENT, similar, margin=3.0, alpha=0.5)
    options = {"name": "dsh", "margin": 3.0, "regulariser_weight": 0.5}
    assert math.isclose(_loss(options, labels, classes).item(), other, rel_tol=1e-5)


def test_dsh_dissimilar_pairs_beyond_the_margin_and_binary_outputs_cost_nothing():
    # distance 16 between the two items: at the margin 2 x 4 = 8 and beyond
    latent = [[1.0, 1.0, -1.0, 1.0], [-1.0, -1.0, 1.0, -1.0]]
    loss, gradient = _loss_and_gradient({"name": "dsh"}, [0, 1], 2, latent)
    # no gradient from a pair beyond its margin, nor from +-1 outputs
    assert loss == 0.0 and gradient == [[0.0] * 4] * 2
    # a batch of one item has no pair: only the regulariser
    one = _loss({"name": "dsh"}, [0], 2, [[0.5, -2.0, 1.0, 0.0]])
    assert math.isclose(one.item(), 0.01 * (0.5 + 1.0 + 0.0 + 1.0), rel_tol=1e-6)


# --- DHN -----------------------------------------------------------------------------------------


def _direct_dhn(z, similar, weight: float) -> float:
    n = len(z)
    likelihood = sum(
        math.log(1 + math.exp(_dot(z[i], z[j]))) - similar[i][j] * _dot(z[i], z[j])
        for i in range(n)
        for j in range(n)
    )
    quantisation = sum(math.log(math.cosh(abs(x) - 1)) for row in z for x in row)
    return likelihood / n**2 + weight * quantisation / (n * len(z[0]))


@pytest.mark.parametrize("case", LABEL_SETS)
def test_dhn_loss_is_the_pairwise_cross_entropy_plus_log_cosh_quantisation(case):
    labels, classes = LABEL_SETS[case]
    similar = _similar(labels, classes)
    expected = _direct_dhn(LATENT, similar, 0.1)
    assert math.isclose(_loss({"name": "dhn"}, labels, classes).item(), expected, rel_tol=1e-5)
    options = {"name": "dhn", "quantisation_weight": 2.0}
    expected = _direct_dhn(LATENT, similar, 2.0)
    assert math.isclose(_loss(options, labels, classes).item(), expected, rel_tol=1e-5)


def test_dhn_log_cosh_stays_finite_where_cosh_overflows():
    x = torch.tensor([0.0, 0.5, -3.0, 200.0, -1000.0])
    expected = [math.log(math.cosh(0.0)), math.log(math.cosh(0.5)), math.log(math.cosh(3.0))]
    expected += [200 - math.log(2), 1000 - math.log(2)]  # cosh x = e^|x| / 2 (1 + e^(-2|x|))
    assert log_cosh(x).tolist() == pytest.approx(expected, rel=1e-6)
    huge = _loss({"name": "dhn"}, [0, 1], 2, [[90.0, -90.0, 90.0, 90.0], [-90.0] * 4])
    assert torch.isfinite(huge)


# --- DTSH ----------------------------------------------------------------------------------------


def _direct_dtsh(u, similar, margin: float, weight: float) -> float:
    n = len(u)
    anchor_means = []
    for a in range(n):
        losses = [
            -math.log(_sigmoid(_dot(u[a], u[p]) / 2 - _dot(u[a], u[q]) / 2 - margin))
            for p in range(n)
            if p != a and similar[a][p]
            for q in range(n)
            if not similar[a][q]
        ]
        if losses:
            anchor_means.append(sum(losses) / len(losses))
    triplets = sum(anchor_means) / len(anchor_means) if anchor_means else 0.0
    quantisation = sum((x - _sign(x)) ** 2 for row in u for x in row) / n
    return triplets + weight * quantisation


@pytest.mark.parametrize("case", LABEL_SETS)
def test_dtsh_loss_is_the_triplet_likelihood_of_every_in_batch_triplet(case):
    labels, classes = LABEL_SETS[case]
    similar = _similar(labels, classes)
    expected = _direct_dtsh(LATENT, similar, margin=2.0, weight=100 / 22_500)
    assert math.isclose(_loss({"name": "dtsh"}, labels, classes).item(), expected, rel_tol=1e-5)
    options = {"name": "dtsh", "margin": 0.5, "quantisation_weight": 0.3}
    expected = _direct_dtsh(LATENT, similar, margin=0.5, weight=0.3)
    assert math.isclose(_loss(options, labels, classes).item(), expected, rel_tol=1e-5)


def test_dtsh_without_any_triplet_only_quantises_and_still_backpropagates():
    # one class: no negative; all classes apart: no positive
    n = len(LATENT)
    quantisation = sum((x - _sign(x)) ** 2 for row in LATENT for x in row) / n
    pull = [[2 * (x - _sign(x)) / n for x in row] for row in LATENT]  # its gradient
    for labels, classes in (LABEL_SETS["one_class"], LABEL_SETS["no_similar_pair"]):
        options = {"name": "dtsh", "quantisation_weight": 1.0}
        loss, gradient = _loss_and_gradient(options, labels, classes, LATENT)
        assert math.isclose(loss, quantisation, rel_tol=1e-6)
        assert [pytest.approx(row) for row in pull] == gradient


def test_dtsh_triplet_costs_log_2_at_its_margin_and_less_past_it():
    # anchor and positive equal, negative opposite: theta_ap - theta_an = 2 - (-2) = 4 bits;
    # binary outputs: no quantisation; the third item has no positive and anchors nothing
    latent = [[1.0, -1.0, 1.0, 1.0], [1.0, -1.0, 1.0, 1.0], [-1.0, 1.0, -1.0, -1.0]]
    for margin, expected in ((4.0, math.log(2)), (2.0, _softplus(-2.0)), (0.0, _softplus(-4.0))):
        loss = _loss({"name": "dtsh", "margin": margin}, [0, 0, 1], 2, latent).item()
        assert loss == pytest.approx(expected, rel=1e-6), margin
    # the default margin is hash_bits / 2
    assert _loss({"name": "dtsh"}, [0, 0, 1], 2, latent).item() == pytest.approx(_softplus(-2.0))


def test_dtsh_scores_a_large_batch_in_chunks_as_one_whole():
    # 300 items of 2 classes: about 300 x 149 (anchor, positive) pairs against 300 items each,
    # over 2^22 cells: scored in 4 chunks
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(300, 8, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 2, (300,), generator=generator)
    theta = latent @ latent.T / 2
    anchor_means = []
    for a in range(300):
        same = labels == labels[a]
        positives = same & (torch.arange(300) != a)
        scores = theta[a, positives][:, None] - theta[a, ~same][None, :] - 4.0
        anchor_means.append(-torch.nn.functional.logsigmoid(scores).mean().item())
    method = DTSH(hash_bits=8, num_classes=2, quantisation_weight=0.0)
    batch = LatentBatch(latent, labels, torch.zeros(300, 3), torch.arange(300))
    actual = method.loss(batch, None).loss.item()
    assert math.isclose(actual, sum(anchor_means) / 300, rel_tol=1e-9)


# --- LCDSH ---------------------------------------------------------------------------------------


def _direct_lcdsh(u, similar, weight: float) -> float:
    n = len(u)
    b = [[_sign(x) for x in row] for row in u]
    likelihood = locality = 0.0
    for i in range(n):
        for j in range(n):
            theta = _dot(u[i], u[j]) / 2
            label = 1 if similar[i][j] else -1
            likelihood += math.log(1 + math.exp(-label * theta))
            locality += (_sigmoid(theta) - _sigmoid(_dot(b[i], b[j]) / 2)) ** 2
    return likelihood / n**2 + weight * locality / n**2


@pytest.mark.parametrize("case", LABEL_SETS)
def test_lcdsh_loss_is_the_likelihood_plus_the_locality_constraint(case):
    labels, classes = LABEL_SETS[case]
    similar = _similar(labels, classes)
    expected = _direct_lcdsh(LATENT, similar, 3.0)
    assert math.isclose(_loss({"name": "lcdsh"}, labels, classes).item(), expected, rel_tol=1e-5)
    options = {"name": "lcdsh", "locality_weight": 0.25}
    expected = _direct_lcdsh(LATENT, similar, 0.25)
    assert math.isclose(_loss(options, labels, classes).item(), expected, rel_tol=1e-5)
    # the shared recipe's default (conf/method/lcdsh.yaml): the pairs balanced, the locality kept
    locality = _direct_lcdsh(LATENT, similar, 1.0) - _direct_lcdsh(LATENT, similar, 0.0)
    expected = _direct_balanced_likelihood(LATENT, similar, 0.5) + 3.0 * locality
    options = {"name": "lcdsh", "pair_weights": "balanced"}
    assert math.isclose(_loss(options, labels, classes).item(), expected, rel_tol=1e-5)


def test_lcdsh_locality_vanishes_once_the_codes_are_binary():
    latent = [[1.0, -1.0, 1.0, 1.0], [1.0, 1.0, -1.0, -1.0]]
    likelihood = _loss({"name": "lcdsh", "locality_weight": 0.0}, [0, 1], 2, latent)
    assert _loss({"name": "lcdsh"}, [0, 1], 2, latent).item() == likelihood.item()


# --- DCH -----------------------------------------------------------------------------------------


def _hamming(a: list[float], b: list[float]) -> float:
    """K/2 (1 - cos) with the authors' 1e-6 added to 1 - cos."""
    cosine = _dot(a, b) / math.sqrt(_dot(a, a) * _dot(b, b))
    return len(a) / 2 * (1 - cosine + 1e-6)


def _direct_dch(z, similar, gamma: float, weight: float) -> float:
    h = [[math.tanh(x) for x in row] for row in z]
    n = len(h)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    counts = {1: sum(similar[i][j] for i, j in pairs)}
    counts[0] = len(pairs) - counts[1]
    total = 0.0
    for i, j in pairs:
        d, s = _hamming(h[i], h[j]), similar[i][j]
        p = gamma / (gamma + d)  # the Cauchy probability of a similar pair
        total += len(pairs) / counts[s] * -(s * math.log(p) + (1 - s) * math.log(1 - p))
    ones = [1.0] * len(h[0])
    quantisation = sum(math.log(1 + _hamming([abs(x) for x in row], ones) / gamma) for row in h)
    return total / len(pairs) + weight * quantisation / n


@pytest.mark.parametrize("case", LABEL_SETS)
def test_dch_loss_is_the_balanced_cauchy_cross_entropy_plus_cauchy_quantisation(case):
    labels, classes = LABEL_SETS[case]
    similar = _similar(labels, classes)
    expected = _direct_dch(LATENT, similar, gamma=20.0, weight=0.0)
    assert math.isclose(_loss({"name": "dch"}, labels, classes).item(), expected, rel_tol=1e-5)
    options = {"name": "dch", "gamma": 2.0, "quantisation_weight": 0.7}
    expected = _direct_dch(LATENT, similar, gamma=2.0, weight=0.7)
    assert math.isclose(_loss(options, labels, classes).item(), expected, rel_tol=1e-5)


def test_dch_keeps_a_dissimilar_pair_with_equal_codes_finite_and_pairs_no_item_with_itself():
    same = [[0.4, -0.8, 1.2, 0.3]] * 2
    loss, gradient = _loss_and_gradient({"name": "dch"}, [0, 1], 2, same)
    assert 10 < loss < math.inf  # log(1 + 20 / (2 x 1e-6))
    assert all(math.isfinite(g) for row in gradient for g in row)
    # one item: no pair, only the quantisation
    one = _loss({"name": "dch", "quantisation_weight": 1.0}, [0], 2, [[0.4, -0.8, 1.2, 0.3]])
    h = [math.tanh(x) for x in (0.4, 0.8, 1.2, 0.3)]
    expected = math.log(1 + _hamming(h, [1.0] * 4) / 20)
    assert math.isclose(one.item(), expected, rel_tol=1e-5)


# --- DFH -----------------------------------------------------------------------------------------


def _weights(labels, num_classes: int) -> list[list[float]]:
    rows = _label_rows(labels, num_classes)
    return [[y / max(sum(row), 1) for y in row] for row in rows]


def _direct_targets(u, weights, centres, mu: float) -> list[list[float]]:
    """b = sign(mu Y C + u)."""
    return [
        [
            _sign(mu * sum(w[c] * centres[c][k] for c in range(len(centres))) + u[n][k])
            for k in range(len(u[0]))
        ]
        for n, w in enumerate(weights)
    ]


def _direct_centres(centres, weights, codes, separation: float) -> list[list[float]]:
    """Discretecenter: class by class, c_i = sign(sum_n y_ni b_n - sum_{j != i} (y_j . y_i) c_j
    - separation sum_{j != i} c_j), later classes seeing the earlier ones' new centres."""
    centres = [row[:] for row in centres]
    classes, bits = len(centres), len(centres[0])
    column = [[w[c] for w in weights] for c in range(classes)]
    for i in range(classes):
        new = []
        for k in range(bits):
            value = sum(column[i][n] * codes[n][k] for n in range(len(codes)))
            for j in range(classes):
                if j != i:
                    value -= _dot(column[j], column[i]) * centres[j][k]
                    value -= separation * centres[j][k]
            new.append(_sign(value))
        centres[i] = new
    return centres


def _direct_dfh(u, similar, codes, margin: float, eta: float) -> float:
    n = len(u)
    likelihood = 0.0
    for i in range(n):
        for j in range(n):
            theta = _dot(u[i], u[j]) / 2
            s = similar[i][j]
            likelihood += s * _softplus(margin - theta) + (1 - s) * _softplus(margin + theta)
    quantisation = sum(
        (b - x) ** 2 for row, bs in zip(u, codes, strict=True) for b, x in zip(bs, row, strict=True)
    )
    return likelihood / n**2 + eta * quantisation / (n * len(u[0]))


@pytest.mark.parametrize("case", LABEL_SETS)
def test_dfh_loss_aims_at_the_centres_codes_and_a_training_step_updates_the_centres(case):
    labels, classes = LABEL_SETS[case]
    similar = _similar(labels, classes)
    centres = [row[:BITS] for row in CENTRES[:classes]]
    for options, (margin, eta, mu, vul) in (
        ({"name": "dfh"}, (0.0, 0.5, 1.0, 1.0)),
        (
            {
                "name": "dfh",
                "margin": 1.5,
                "quantisation_weight": 0.2,
                "centre_weight": 3.0,
                "separation": 0.5,
            },
            (1.5, 0.2, 3.0, 0.5),
        ),
    ):
        method = build_method(options, hash_bits=BITS, num_classes=classes)
        method.centres.copy_(torch.tensor(centres, dtype=torch.float))
        weights = _weights(labels, classes)
        codes = _direct_targets(LATENT, weights, centres, mu)
        expected = _direct_dfh(LATENT, similar, codes, margin, eta)
        assert math.isclose(_method_loss(method, LATENT, labels).item(), expected, rel_tol=1e-5)
        assert method.centres.tolist() == _direct_centres(centres, weights, codes, vul)


def test_dfh_centres_stay_put_in_evaluation_and_travel_in_the_state_dict():
    labels, classes = LABEL_SETS["multi"]
    method = DFH(hash_bits=BITS, num_classes=classes)
    method.eval()
    _method_loss(method, LATENT, labels)
    assert not method.centres.any()  # evaluation scores against the centres, never moves them
    method.train()
    _method_loss(method, LATENT, labels)
    assert method.centres.abs().sum() > 0
    restored = DFH(hash_bits=BITS, num_classes=classes)
    restored.load_state_dict(method.state_dict())
    assert torch.equal(restored.centres, method.centres)


def test_dfh_weighs_each_label_of_a_multi_hot_row_equally_and_an_empty_row_not_at_all():
    labels = torch.tensor([[1, 1, 0], [0, 0, 0], [1, 1, 1]])
    codes = torch.tensor([[1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    weights = [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]
    centres = [[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]]
    assert torch.allclose(class_weights(labels, 3), torch.tensor(weights))
    updated = update_centres(torch.tensor(centres), class_weights(labels, 3), codes, 1.0)
    assert updated.tolist() == _direct_centres(centres, weights, codes.tolist(), 1.0)


# --- pair_weights=balanced (every pairwise likelihood) --------------------------------------------


def _direct_balanced_likelihood(u, similar, scale: float, margin: float = 0.0) -> float:
    """Half the similar pairs' mean plus half the dissimilar pairs' of the pair's negative
    log-likelihood, theta = scale u_i.u_j; a kind without pairs adds 0."""
    n = len(u)
    losses = {1: [], 0: []}
    for i in range(n):
        for j in range(n):
            theta = scale * _dot(u[i], u[j])
            if similar[i][j]:
                losses[1].append(_softplus(margin - theta))
            else:
                losses[0].append(_softplus(margin + theta))
    return sum(sum(kind) / len(kind) / 2 for kind in losses.values() if kind)


# each method with its other terms switched off, the scale of its theta and its relaxed codes
BALANCED_LIKELIHOODS = {
    "dpsh": ({"eta": 0.0}, 0.5, lambda x: x),
    "dsdh": ({"quantisation_weight": 0.0}, 0.5, lambda x: x),
    "dhn": ({"quantisation_weight": 0.0}, 1.0, lambda x: x),
    "lcdsh": ({"locality_weight": 0.0}, 0.5, lambda x: x),
    "dfh": ({"quantisation_weight": 0.0}, 0.5, lambda x: x),
    "dbdh": ({"balance_weight": 0.0}, 0.5, lambda x: min(max(x, -1.0), 1.0)),
}


@pytest.mark.parametrize("case", LABEL_SETS)
@pytest.mark.parametrize("name", BALANCED_LIKELIHOODS)
def test_balanced_pair_weights_give_similar_and_dissimilar_pairs_half_each(name, case):
    labels, classes = LABEL_SETS[case]
    similar = _similar(labels, classes)
    options, scale, relax = BALANCED_LIKELIHOODS[name]
    u = [[relax(x) for x in row] for row in LATENT]
    balanced = {"name": name, "pair_weights": "balanced", **options}
    expected = _direct_balanced_likelihood(u, similar, scale)
    assert math.isclose(_loss(balanced, labels, classes).item(), expected, rel_tol=1e-5)
    uniform = (
        sum(
            _softplus(-scale * _dot(a, b)) if similar[i][j] else _softplus(scale * _dot(a, b))
            for i, a in enumerate(u)
            for j, b in enumerate(u)
        )
        / len(u) ** 2
    )
    assert math.isclose(
        _loss({**balanced, "pair_weights": "uniform"}, labels, classes).item(),
        uniform,
        rel_tol=1e-5,
    )


def test_balanced_pair_weights_keep_dfh_margin():
    labels, classes = LABEL_SETS["single"]
    options = {"name": "dfh", "quantisation_weight": 0.0, "margin": 1.5, "pair_weights": "balanced"}
    expected = _direct_balanced_likelihood(LATENT, _similar(labels, classes), 0.5, margin=1.5)
    assert math.isclose(_loss(options, labels, classes).item(), expected, rel_tol=1e-5)


@pytest.mark.parametrize("name", BALANCED_LIKELIHOODS)
def test_an_unknown_pair_weighting_names_the_choices(name):
    with pytest.raises(
        ValueError, match=r"method.pair_weights='weighted': must be 'uniform' .*'balanced'"
    ):
        build_method({"name": name, "pair_weights": "weighted"}, hash_bits=BITS, num_classes=3)
