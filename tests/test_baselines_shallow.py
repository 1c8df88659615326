"""SH, ITQ-CCA, KSH, BRE, MLH and SDH against direct implementations of their papers'
definitions, each against LSH on the digits, and baselines that cannot run left out with a
reason."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
import scipy.linalg
from sklearn.datasets import load_digits

from ssdh_lightning.baselines import (
    BASELINES,
    ITQCCA,
    KSH,
    SH,
    CannotFit,
    check_baselines,
    fitted_hasher,
    hashing_metrics,
)
from ssdh_lightning.baselines.bre import BRE, _best_weight
from ssdh_lightning.baselines.mlh import loss_augmented_codes, pair_loss
from ssdh_lightning.baselines.sdh import best_bit, discrete_codes
from ssdh_lightning.retrieval import EvaluationSet, RetrievalSettings, evaluate_retrieval


def gaussian_classes(n_per_class=100, classes=3, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), n_per_class)
    features = rng.normal(0, 2, (classes, dim))[labels] + rng.normal(0, 1, (len(labels), dim))
    return features, labels


def test_sh_bits_are_the_eigenfunctions_of_a_uniform_rectangle():
    """On a uniform sample of [0, 3] x [0, 1.3] (reflected so that the axes are exactly its
    principal directions), the bits are sin(pi/2 + k pi (x - a) / (b - a)) > 0 of the modes
    (axis, k) with the smallest (k / (b - a))^2: x1, x2, y1, x3, x4, y2 for 6 bits (more bits
    than dimensions)."""
    rng = np.random.default_rng(0)
    half = rng.uniform((0, 0), (3, 1.3), (300, 2))
    sample = np.vstack([half, half * (1, -1) + (0, 1.3)])
    low, high = sample.min(axis=0), sample.max(axis=0)
    modes = sorted(
        ((k / (high[axis] - low[axis])) ** 2, axis, k) for axis in (0, 1) for k in range(1, 7)
    )[:6]
    assert [(axis, k) for _, axis, k in modes] == [(0, 1), (0, 2), (1, 1), (0, 3), (0, 4), (1, 2)]
    direct = np.stack(
        [
            np.sin(np.pi / 2 + k * np.pi * (sample[:, axis] - low[axis]) / (high - low)[axis]) > 0
            for _, axis, k in modes
        ],
        axis=1,
    )
    codes = SH(6).fit(sample).encode(sample)
    # PCA may point an axis either way; that complements the odd modes' bits, which ranks alike
    for bit in range(6):
        assert np.array_equal(codes[:, bit], direct[:, bit]) or np.array_equal(
            codes[:, bit], ~direct[:, bit]
        )


def test_sh_refuses_constant_features():
    with pytest.raises(CannotFit, match="every database item has the same features"):
        SH(8).fit(np.ones((20, 4)))


def test_itq_cca_projection_is_the_regularised_canonical_directions():
    features, labels = gaussian_classes()
    model = ITQCCA(4).fit(features, labels)
    # The generalized eigenproblem Cxy Cyy^-1 Cyx w = r^2 Cxx w, covariances as MATLAB's cov
    # plus 1e-4 I, solved directly
    onehot = np.eye(3)[labels]
    joint = np.cov(np.hstack([features, onehot]).T)
    cxx = joint[:6, :6] + 1e-4 * np.eye(6)
    cxy = joint[:6, 6:]
    cyy = joint[6:, 6:] + 1e-4 * np.eye(3)
    squared, vectors = scipy.linalg.eigh(cxy @ np.linalg.solve(cyy, cxy.T), cxx)
    top = vectors[:, ::-1][:, :2]  # with 3 classes, 2 non-zero correlations
    assert np.rad2deg(scipy.linalg.subspace_angles(model.projection[:, :2], top)).max() < 1e-6
    np.testing.assert_allclose(model.correlations[:2], np.sqrt(squared[::-1][:2]), rtol=1e-8)
    # each direction has unit length, scaled by its correlation; those past c - 1 are near 0
    np.testing.assert_allclose(np.linalg.norm(model.projection, axis=0), model.correlations[:4])
    assert model.correlations[2:].max() < 1e-6
    np.testing.assert_allclose(model.rotation @ model.rotation.T, np.eye(4), atol=1e-10)
    rotated = (features - features.mean(axis=0)) @ model.projection @ model.rotation
    clear = np.abs(rotated) > 1e-9  # rounding may take either side of 0
    assert np.array_equal(model.encode(features)[clear], (rotated > 0)[clear])


def test_itq_cca_needs_as_many_dimensions_as_bits():
    features, labels = gaussian_classes(dim=6)
    with pytest.raises(CannotFit, match="only 6 dimensions; use hash_bits <= 6"):
        ITQCCA(8).fit(features, labels)


def ksh_objective(codes: np.ndarray, labels: np.ndarray, hash_bits: int) -> float:
    """The paper's |B B^T - r S|_F^2, S = +1 for pairs of one class, -1 otherwise."""
    similarity = np.where(labels[:, None] == labels[None, :], 1.0, -1.0)
    signed = np.where(codes, 1.0, -1.0)
    return float(np.square(signed @ signed.T - hash_bits * similarity).sum())


def test_ksh_first_bit_beats_random_projections_of_its_kernel():
    features, labels = gaussian_classes(n_per_class=30, dim=5, seed=1)
    model = KSH(1, labelled=40, anchors=20, seed=2).fit(features, labels)
    rows = model.labelled_rows
    # the kernel, written out: RBF on the anchors, 2 sigma = twice the mean squared distance
    # from the database to them, centred by its database mean
    squared = np.square(features[:, None, :] - model.anchor_points[None]).sum(axis=2)
    kernel = np.exp(-squared / (2 * squared.mean()))
    kernel -= kernel.mean(axis=0)
    kernel = kernel[rows]
    found = ksh_objective(model.encode(features[rows])[:, 0], labels[rows], 1)
    assert np.array_equal(model.encode(features[rows])[:, 0], kernel @ model.projections[:, 0] > 0)
    rng = np.random.default_rng(0)
    random = [
        ksh_objective(kernel @ rng.standard_normal(20) > 0, labels[rows], 1) for _ in range(2000)
    ]
    assert found <= min(random)


def test_ksh_greedy_bits_lower_the_objective_bit_by_bit():
    features, labels = gaussian_classes(n_per_class=30, dim=5, seed=1)
    model = KSH(4, labelled=40, anchors=20, seed=2).fit(features, labels)
    codes = model.encode(features[model.labelled_rows])
    objectives = [
        ksh_objective(codes[:, :bits], labels[model.labelled_rows], 4) for bits in range(5)
    ]
    assert all(later < earlier for earlier, later in itertools.pairwise(objectives))


def bre_objective(codes: np.ndarray, labels: np.ndarray) -> float:
    """sum over pairs i < j of (d_M - d_R)^2: d_M = 0 for one class, 1 otherwise; d_R the
    Hamming distance over the number of bits."""
    target = (labels[:, None] != labels[None, :]).astype(float)
    hamming = (codes[:, None, :] != codes[None, :, :]).mean(axis=2)
    return float(np.triu(np.square(target - hamming), 1).sum())


@pytest.mark.parametrize("seed", range(3))
def test_bre_weight_update_is_the_minimum_along_its_line(seed):
    """One weight of one hash among 3: its objective at the returned value is the least over
    every interval between the items' flip points (brute force)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 9)
    kernel = rng.uniform(0.1, 1, (9, 4))
    weights = rng.normal(size=(4, 3))
    codes = kernel @ weights > 0
    point, bit = 1, 0
    offsets = kernel @ weights[:, bit] - kernel[:, point] * weights[point, bit]

    def objective(weight):
        trial = codes.copy()
        trial[:, bit] = offsets + kernel[:, point] * weight > 0
        return bre_objective(trial, labels)

    breaks = np.sort(-offsets / kernel[:, point])
    candidates = [breaks[0] - 1, *(breaks[:-1] + breaks[1:]) / 2, breaks[-1] + 1]
    target = (labels[:, None] != labels[None, :]).astype(float)
    residual = target - (codes[:, None, :] != codes[None, :, :]).mean(axis=2)
    column = codes[:, bit].astype(np.int8)
    weight, best = _best_weight(column, residual, offsets, kernel[:, point].copy(), 1 / 3)
    assert best == pytest.approx(min(objective(w) for w in candidates))
    assert objective(weight) == pytest.approx(best)
    assert np.array_equal(column, offsets + kernel[:, point] * weight > 0)


def test_bre_descends_the_reconstruction_error():
    features, labels = gaussian_classes(n_per_class=30, dim=5, seed=1)
    start = BRE(6, labelled=60, anchors=10, sweeps=0, seed=3).fit(features, labels)
    model = BRE(6, labelled=60, anchors=10, sweeps=2, seed=3).fit(features, labels)
    rows = model.labelled_rows
    final = bre_objective(model.encode(features[rows]), labels[rows])
    assert final == pytest.approx(model.objective[-1])
    assert final < bre_objective(start.encode(features[rows]), labels[rows])
    assert model.objective[1] <= model.objective[0] + 1e-9  # sums of the same terms


@pytest.mark.parametrize("similar", [True, False])
def test_mlh_loss_augmented_codes_are_the_brute_force_argmax(similar):
    """max over every (g, h) in {-1, 1}^4 x {-1, 1}^4 of g.a + h.c + loss(|g - h|_H)."""
    rng = np.random.default_rng(int(similar))
    first, second = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    kinds = np.full(20, similar)
    g, h = loss_augmented_codes(first, second, kinds, rho=2, ratio=0.5)
    codes = [np.array(c) for c in itertools.product((-1.0, 1.0), repeat=4)]

    def score(row, g_row, h_row):
        distance = np.sum(g_row != h_row)
        return g_row @ first[row] + h_row @ second[row] + pair_loss(distance, similar, 2, 0.5)

    for row in range(20):
        best = max(score(row, a, b) for a in codes for b in codes)
        assert score(row, g[row], h[row]) == pytest.approx(best)


def sdh_b_objective(codes, targets, classifier, hashed, nu):
    return np.square(targets - codes @ classifier).sum() + nu * np.square(codes - hashed).sum()


def tiny_sdh_problem(seed=0):
    rng = np.random.default_rng(seed)
    targets = np.eye(2)[rng.integers(0, 2, 4)]
    classifier = rng.normal(0, 1, (3, 2))
    hashed = rng.normal(0, 1, (4, 3))
    codes = np.where(rng.normal(size=(4, 3)) > 0, 1.0, -1.0)
    return codes, targets, classifier, hashed


@pytest.mark.parametrize("seed", range(5))
def test_sdh_bit_update_is_the_brute_force_minimum_over_its_column(seed):
    codes, targets, classifier, hashed = tiny_sdh_problem(seed)
    nu = 0.5
    weights = targets @ classifier.T + nu * hashed
    columns = [np.array(c) for c in itertools.product((-1.0, 1.0), repeat=len(codes))]
    for bit in range(codes.shape[1]):

        def objective(column, bit=bit):
            trial = codes.copy()
            trial[:, bit] = column
            return sdh_b_objective(trial, targets, classifier, hashed, nu)

        best = min(objective(column) for column in columns)
        assert objective(best_bit(codes, bit, weights, classifier)) == pytest.approx(best)


@pytest.mark.parametrize("seed", range(5))
def test_sdh_b_step_descends_to_a_point_no_bit_can_improve(seed):
    codes, targets, classifier, hashed = tiny_sdh_problem(seed)
    nu = 0.5
    result = discrete_codes(codes, targets, classifier, hashed, nu)
    before = sdh_b_objective(codes, targets, classifier, hashed, nu)
    after = sdh_b_objective(result, targets, classifier, hashed, nu)
    assert after <= before
    every_code = (
        np.array(flat).reshape(codes.shape)
        for flat in itertools.product((-1.0, 1.0), repeat=codes.size)
    )
    optimum = min(sdh_b_objective(b, targets, classifier, hashed, nu) for b in every_code)
    assert after >= optimum - 1e-9
    weights = targets @ classifier.T + nu * hashed
    for bit in range(codes.shape[1]):  # no bit's closed form improves on the result
        updated = result.copy()
        updated[:, bit] = best_bit(result, bit, weights, classifier)
        assert sdh_b_objective(updated, targets, classifier, hashed, nu) == pytest.approx(after)


@pytest.fixture(scope="module")
def digits_sets():
    """The raw 64-d pixels of scikit-learn's digits: a seeded 20% of each class as queries, the
    rest the database (the supervised baselines' training set)."""
    features, labels = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    query = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        query[rng.choice(members, len(members) // 5, replace=False)] = True
    features = features.astype(np.float32)
    return (
        EvaluationSet(labels[query], features=features[query]),
        EvaluationSet(labels[~query], features=features[~query]),
    )


SETTINGS = RetrievalSettings(map_at=("all",), precision_at=(10,))


# Smaller kernel sizes than the defaults, to keep the test fast (the defaults: README figures)
SMALL = {
    "ksh": {"labelled": 500, "anchors": 150},
    "bre": {"labelled": 300, "anchors": 50},
    "sdh": {"anchors": 300},
}


@pytest.mark.parametrize("method", ["sh", "itq_cca", "ksh", "bre", "mlh", "sdh"])
def test_each_baseline_beats_lsh_on_digits_pixels(method, digits_sets):
    """8 bits, BCS mAP@all, against the best of LSH's draws with seeds 0 to 4 (8 bits: SH's
    eigenfunctions pay off at short codes, as in its paper)."""
    lsh = max(
        hashing_metrics(["lsh"], *digits_sets, 8, SETTINGS, s)["lsh/map@all"] for s in range(5)
    )
    query, database = digits_sets
    hasher = fitted_hasher(method, database, 8, seed=0, **SMALL.get(method, {}))
    scores = evaluate_retrieval(
        hasher.encode(query.features),
        hasher.encode(database.features),
        query.labels,
        database.labels,
        modes=("bcs",),
        map_at=("all",),
    )
    assert scores["bcs/map@all"] > lsh


def test_check_baselines_names_every_baseline():
    assert check_baselines(["sh", "ksh", "initial"]) == ["sh", "ksh", "initial"]
    hashers = "lsh, itq, sh, itq_cca, ksh, bre, mlh, sdh"
    names = f"{hashers}, {hashers.replace(',', '_initial,')}_initial, initial"
    assert ", ".join(BASELINES) == names
    with pytest.raises(ValueError, match=f"unknown \\['kh'\\]; choose among {names}"):
        check_baselines(["kh"])


def test_a_baseline_that_cannot_run_is_left_out_with_its_reason(caplog):
    features, labels = gaussian_classes(n_per_class=100, dim=6)
    query = EvaluationSet(labels[:30], features=features[:30])
    database = EvaluationSet(labels[30:], features=features[30:])
    with caplog.at_level(logging.WARNING, logger="ssdh_lightning.baselines.rows"):
        metrics = hashing_metrics(["ksh", "itq_cca", "sh", "sdh"], query, database, 8, SETTINGS)
    assert not any(key.startswith(("ksh/", "itq_cca/")) for key in metrics)
    assert {"sh/map@all", "sdh/map@all"} <= metrics.keys()  # SH takes several modes a direction
    assert (
        "baseline ksh left out at hash_bits=8: needs 300 KSH anchors drawn from the training "
        "items, but there are only 270" in caplog.text
    )
    assert (
        "baseline itq_cca left out at hash_bits=8: ITQ-CCA projects to hash_bits=8" in caplog.text
    )
