"""DPN, OrthoHash, IDHN, DBDH and DSHSD: each loss on fixed single-label and multi-hot batches
against its formula written out with plain loops, their edge cases, their class targets and
their code rules."""

from __future__ import annotations

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
from ssdh_lightning.methods import DBDH, DPN, OrthoHash, build_method

# 4 items, 4 bits, 3 classes. The multi-hot rows share labels unevenly: label cosines of 1/sqrt(2)
# and 1/2 (partially similar, for IDHN), 0 and 1. A latent value of exactly 0 is a tie.
LABELS = pytest.mark.parametrize("labels", [METHOD_SINGLE, METHOD_MULTI], ids=["single", "multi"])


def _loss(config: dict, latent=METHOD_LATENT, labels=METHOD_SINGLE, bits: int = 4) -> float:
    method = build_method(config, hash_bits=bits, num_classes=3)
    classifier = fixed_classifier() if method.classifies else None
    return method.loss(latent_batch(latent, labels), classifier).loss.item()


def _label_sets(labels) -> list[set[int]]:
    if isinstance(labels[0], list):
        return [{c for c, on in enumerate(row) if on} for row in labels]
    return [{y} for y in labels]


def _dot(a, b) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _sign(x: float) -> float:
    return float((x > 0) - (x < 0))


def _close(actual: float, expected: float) -> bool:
    return math.isclose(actual, expected, rel_tol=1e-5, abs_tol=1e-7)


# DPN ----------------------------------------------------------------------------------------


def _direct_dpn(v, labels, centres, margin: float) -> float:
    total = 0.0
    for row, classes in zip(v, _label_sets(labels), strict=True):
        for c in classes:
            total += sum(max(margin - x * t, 0.0) for x, t in zip(row, centres[c], strict=True))
    return total / len(v)


@LABELS
def test_dpn_loss_is_the_hinge_towards_each_class_target_summed(labels):
    method = build_method({"name": "dpn", "margin": 1.5}, hash_bits=4, num_classes=3)
    expected = _direct_dpn(METHOD_LATENT, labels, method.centres.tolist(), 1.5)
    assert _close(method.loss(latent_batch(METHOD_LATENT, labels), None).loss.item(), expected)


def test_dpn_bits_beyond_the_margin_on_their_targets_side_add_nothing():
    method = DPN(hash_bits=4, num_classes=3)
    polarised = (2 * method.centres[METHOD_SINGLE]).requires_grad_()
    loss = method.loss(latent_batch(polarised, METHOD_SINGLE), None).loss
    loss.backward()
    assert loss.item() == 0 and not polarised.grad.any()
    # an item without labels has no target to be drawn to
    unlabelled = [[0, 0, 0], *METHOD_MULTI[1:]]
    expected = _direct_dpn(METHOD_LATENT, unlabelled, method.centres.tolist(), 1.0)
    assert _close(method.loss(latent_batch(METHOD_LATENT, unlabelled), None).loss.item(), expected)


# OrthoHash ----------------------------------------------------------------------------------


def _batch_normalised(latent, eps: float = 1e-5) -> list[list[float]]:
    """BatchNorm1d in training at its start (weight 1, bias 0): each bit standardised over the
    batch by its mean and biased variance."""
    columns = []
    for column in zip(*latent, strict=True):
        mean = sum(column) / len(column)
        variance = sum((x - mean) ** 2 for x in column) / len(column)
        columns.append([(x - mean) / math.sqrt(variance + eps) for x in column])
    return [list(row) for row in zip(*columns, strict=True)]


def _direct_orthohash(v, labels, centres, scale: float, margin: float) -> float:
    total = 0.0
    for row, classes in zip(v, _label_sets(labels), strict=True):
        cosines = [_dot(row, c) / math.sqrt(_dot(row, row) * _dot(c, c)) for c in centres]
        logits = [scale * (cos - margin * (k in classes)) for k, cos in enumerate(cosines)]
        log_total = math.log(sum(math.exp(z) for z in logits))
        total -= sum((logits[k] - log_total) / len(classes) for k in classes)
    return total / len(v)


@LABELS
def test_orthohash_loss_is_the_margin_cross_entropy_of_cosines_to_the_class_codes(labels):
    method = build_method(
        {"name": "orthohash", "scale": 4.0, "margin": 0.3}, hash_bits=4, num_classes=3
    )
    centres = method.centres.tolist()
    expected = _direct_orthohash(_batch_normalised(METHOD_LATENT), labels, centres, 4.0, 0.3)
    assert _close(method.loss(latent_batch(METHOD_LATENT, labels), None).loss.item(), expected)


def test_orthohash_codes_of_an_image_do_not_depend_on_its_batch():
    method = OrthoHash(hash_bits=4, num_classes=3)
    shifted = torch.tensor(METHOD_LATENT) + torch.tensor([2.0, -1.0, 0.5, 0.0])
    for _ in range(20):  # training batches move the running statistics
        method.loss(latent_batch(shifted, METHOD_SINGLE), None)
    norm = method.batch_norm
    mean, variance = norm.running_mean.tolist(), norm.running_var.tolist()
    assert mean != [0.0] * 4  # the statistics moved, and the codes follow them

    def standardised(row: list[float]) -> list[float]:
        return [
            (x - m) / math.sqrt(s + norm.eps) for x, m, s in zip(row, mean, variance, strict=True)
        ]

    expected = [[x > 0 for x in standardised(row)] for row in METHOD_LATENT]
    latent = torch.tensor(METHOD_LATENT)
    assert method.codes(latent).tolist() == expected  # in training mode as in evaluation
    assert [method.codes(latent[i : i + 1]).tolist()[0] for i in range(4)] == expected
    # a training batch of one has no spread: it is normalised by the running statistics
    one = method.loss(latent_batch(METHOD_LATENT[:1], METHOD_SINGLE[:1]), None).loss.item()
    rows = [standardised(METHOD_LATENT[0])]
    assert _close(
        one, _direct_orthohash(rows, METHOD_SINGLE[:1], method.centres.tolist(), 8.0, 0.2)
    )


def test_orthohash_item_without_labels_adds_nothing():
    method = OrthoHash(hash_bits=4, num_classes=3)
    unlabelled = [[0, 0, 0], *METHOD_MULTI[1:]]
    rows = _batch_normalised(METHOD_LATENT)
    kept = _direct_orthohash(rows[1:], METHOD_MULTI[1:], method.centres.tolist(), 8.0, 0.2)
    # the mean is over all 4 items; the unlabelled one contributes 0
    assert _close(
        method.loss(latent_batch(METHOD_LATENT, unlabelled), None).loss.item(), kept * 3 / 4
    )


# The class targets of DPN and OrthoHash ---------------------------------------------------------


@pytest.mark.parametrize("cls", [DPN, OrthoHash])
def test_class_targets_are_distinct_bernoulli_rows_drawn_from_the_seed(cls):
    drawn = cls(hash_bits=12, num_classes=10, centre_seed=1)
    assert set(drawn.centres.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(row) for row in drawn.centres.tolist()}) == 10
    assert torch.equal(drawn.centres, cls(hash_bits=12, num_classes=10, centre_seed=1).centres)
    # a checkpoint's targets come back from its state dict, not from a new draw
    other = cls(hash_bits=12, num_classes=10, centre_seed=2)
    assert not torch.equal(other.centres, drawn.centres)
    other.load_state_dict(drawn.state_dict())
    assert torch.equal(other.centres, drawn.centres)


@pytest.mark.parametrize("name", ["dpn", "orthohash"])
def test_more_classes_than_codes_stops_with_the_bits_to_use(name):
    with pytest.raises(ValueError, match=rf"method={name} .*num_classes=10 .*model.hash_bits=4"):
        build_method({"name": name}, hash_bits=3, num_classes=10)


# IDHN ---------------------------------------------------------------------------------------


def _direct_idhn(u, labels, scale: float, partial_weight: float, quantisation: float) -> float:
    sets, bits = _label_sets(labels), len(u[0])
    total = 0.0
    for i in range(len(u)):
        for j in range(len(u)):
            s = len(sets[i] & sets[j]) / math.sqrt(len(sets[i]) * len(sets[j]))
            product = _dot(u[i], u[j])
            if 0.01 <= s <= 0.99:
                total += partial_weight * bits * ((product + bits) / (2 * bits) - s) ** 2
            else:
                t = scale * product / bits
                total += math.log(1 + math.exp(t)) - s * t
    regulariser = sum(abs(abs(x) - 1) for row in u for x in row) / (len(u) * bits)
    return total / len(u) ** 2 + quantisation * regulariser


@pytest.mark.parametrize(
    "labels",
    [METHOD_SINGLE, METHOD_MULTI, [1, 1, 1, 1], [0, 1, 2, 2]],
    ids=["single", "multi", "all-one-class", "mixed"],
)
def test_idhn_loss_is_the_soft_pairwise_loss_of_its_authors(labels):
    softsign = [[x / (1 + abs(x)) for x in row] for row in METHOD_LATENT]
    config = {"name": "idhn", "scale": 3.0, "partial_weight": 0.2, "quantisation_weight": 0.4}
    expected = _direct_idhn(softsign, labels, 3.0, 0.2, 0.4)
    assert _close(_loss(config, labels=labels), expected)


def test_idhn_without_a_similar_pair_is_the_likelihood_of_dissimilar_pairs_only():
    labels = [0, 1, 2]
    softsign = [[x / (1 + abs(x)) for x in row] for row in METHOD_LATENT[:3]]
    expected = _direct_idhn(softsign, labels, 5.0, 0.1, 0.1)
    assert _close(_loss({"name": "idhn"}, latent=METHOD_LATENT[:3], labels=labels), expected)


# DBDH ---------------------------------------------------------------------------------------


def _direct_dbdh(latent, labels, balance_weight: float) -> float:
    b = [[max(-1.0, min(1.0, x)) for x in row] for row in latent]
    sets = _label_sets(labels)
    likelihood = 0.0
    for i in range(len(b)):
        for j in range(len(b)):
            t = _dot(b[i], b[j]) / 2
            likelihood += math.log(1 + math.exp(t)) - bool(sets[i] & sets[j]) * t
    balance = sum((sum(row) / len(row)) ** 2 for row in b) / len(b)
    return likelihood / len(b) ** 2 + balance_weight * balance


@pytest.mark.parametrize(
    "labels",
    [METHOD_SINGLE, METHOD_MULTI, [2, 2, 2, 2], [0, 1, 2]],
    ids=["single", "multi", "all-one-class", "no-similar-pair"],
)
def test_dbdh_loss_is_the_likelihood_and_balance_of_the_clipped_codes(labels):
    latent = METHOD_LATENT[: len(labels)]
    expected = _direct_dbdh(latent, labels, 0.3)
    assert _close(_loss({"name": "dbdh", "balance_weight": 0.3}, latent, labels), expected)


def test_dbdh_gradient_passes_where_a_unit_is_not_saturated_and_balanced_codes_add_nothing():
    latent = torch.tensor([[0.5, -2.0, 0.0, -0.3, 1.0, 1.5]], requires_grad=True)
    relaxed = DBDH(hash_bits=6, num_classes=3).relaxed(latent)
    assert torch.equal(relaxed, torch.tensor([[0.5, -1.0, 0.0, -0.3, 1.0, 1.0]]))
    (relaxed * torch.tensor([[3.0, -1.0, 2.0, 4.0, 5.0, 6.0]])).sum().backward()
    assert latent.grad.tolist() == [[3.0, 0.0, 2.0, 4.0, 0.0, 0.0]]
    # codes with as many bits on as off, by as much, are balanced: the balance term adds nothing
    balanced = [[2.0, -2.0, 0.4, -0.4], [-1.5, 0.7, 1.2, -0.7]]
    method = DBDH(hash_bits=4, num_classes=3, balance_weight=5.0)
    without = DBDH(hash_bits=4, num_classes=3, balance_weight=0.0)
    batch = latent_batch(balanced, [0, 1])
    assert _close(method.loss(batch, None).loss.item(), without.loss(batch, None).loss.item())


# DSHSD --------------------------------------------------------------------------------------


def _direct_dshsd(latent, labels, alpha: float) -> float:
    u = [[math.tanh(x) for x in row] for row in latent]
    bits, sets = len(u[0]), _label_sets(labels)
    logits = [
        [_dot(w, row) + b for w, b in zip(CLASSIFIER_WEIGHTS, CLASSIFIER_BIAS, strict=True)]
        for row in u
    ]
    if isinstance(labels[0], list):  # Eq. 8: sigmoid cross-entropy summed over classes
        classification = sum(
            sum(z - y * z + math.log(1 + math.exp(-z)) for z, y in zip(row, ys, strict=True))
            for row, ys in zip(logits, labels, strict=True)
        )
    else:  # Eq. 7: softmax cross-entropy
        classification = sum(
            math.log(sum(math.exp(z) for z in row)) - row[y]
            for row, y in zip(logits, labels, strict=True)
        )
    contrastive = 0.0
    for i in range(len(u)):
        for j in range(len(u)):
            d = sum((a - b) ** 2 for a, b in zip(u[i], u[j], strict=True))
            similar = bool(sets[i] & sets[j])
            contrastive += d / 2 if similar else max(2 * bits - d, 0.0) / 2
    return classification / len(u) + alpha * contrastive / len(u) ** 2


@pytest.mark.parametrize(
    "labels", [METHOD_SINGLE, METHOD_MULTI, [1, 1, 1, 1]], ids=["single", "multi", "all-one-class"]
)
def test_dshsd_loss_is_classification_plus_contrastive_on_tanh_codes(labels):
    expected = _direct_dshsd(METHOD_LATENT, labels, 0.5)
    assert _close(_loss({"name": "dshsd", "alpha": 0.5}, labels=labels), expected)


def test_dshsd_dissimilar_codes_beyond_the_margin_are_not_pushed():
    # opposite codes: squared distance ~ 4 x bits, beyond the margin of 2 x bits
    far = [[10.0, -10.0, 10.0, 10.0], [-10.0, 10.0, -10.0, -10.0]]
    pushed = _loss({"name": "dshsd", "alpha": 1.0}, latent=far, labels=[0, 1])
    assert _close(pushed, _direct_dshsd(far, [0, 1], 1.0))
    assert _close(pushed, _loss({"name": "dshsd", "alpha": 0.0}, latent=far, labels=[0, 1]))
