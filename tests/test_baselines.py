"""LSH and ITQ on data where the answer is known, and the baseline rows' keys."""

from __future__ import annotations

import numpy as np
import pytest

from ssdh_lightning.baselines import ITQ, LSH, hashing_metrics, initial_metrics, on_initial_features
from ssdh_lightning.retrieval import EvaluationSet, RetrievalSettings, evaluate_retrieval


def separable_clusters(n_per_class=100, classes=4, dim=32, seed=0):
    """Tight clusters around far-apart centres: any sensible hashing retrieves them perfectly."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (classes, dim))
    labels = np.repeat(np.arange(classes), n_per_class)
    features = centres[labels] + rng.normal(0, 0.3, (len(labels), dim))
    order = rng.permutation(len(labels))
    return features[order].astype(np.float32), labels[order]


@pytest.mark.parametrize("hasher", [LSH, ITQ])
def test_separable_clusters_are_retrieved_near_perfectly(hasher):
    features, labels = separable_clusters()
    query, database = slice(0, 80), slice(80, None)
    model = hasher(32, seed=1).fit(features[database])
    metrics = evaluate_retrieval(
        model.encode(features[query]),
        model.encode(features[database]),
        labels[query],
        labels[database],
        modes=("bcs",),
        precision_at=(10,),
        map_at=(100,),
    )
    assert metrics["bcs/precision@10"] >= 0.95
    assert metrics["bcs/map@100"] >= 0.95


def test_itq_rotation_is_orthogonal_and_improves_quantisation():
    features, _ = separable_clusters(dim=24)
    itq = ITQ(16, iterations=50).fit(features)
    np.testing.assert_allclose(itq.rotation @ itq.rotation.T, np.eye(16), atol=1e-10)
    projected = (features - itq.mean) @ itq.pca

    def loss(rotation):
        rotated = projected @ rotation
        return np.square(np.where(rotated >= 0, 1.0, -1.0) - rotated).sum()

    start, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((16, 16)))
    assert loss(itq.rotation) < loss(start)


def test_lsh_codes_are_balanced_on_centred_data():
    rng = np.random.default_rng(3)
    features = rng.standard_normal((20_000, 64)) + 5.0  # centred by LSH's mean
    codes = LSH(48, seed=2).fit(features).encode(features)
    assert np.abs(codes.mean(axis=0) - 0.5).max() < 0.03


def test_itq_needs_as_many_dimensions_as_bits():
    with pytest.raises(ValueError, match="only 8 dimensions; use hash_bits <= 8"):
        ITQ(16).fit(np.zeros((50, 8), np.float32))


def test_baseline_rows_are_keyed_like_the_model():
    features, labels = separable_clusters(dim=16)
    query = EvaluationSet(labels[:40], features=features[:40])
    database = EvaluationSet(labels[40:], features=features[40:])
    settings = RetrievalSettings(map_at=(100, "all"), precision_at=(1, 10))
    metrics = hashing_metrics(["lsh", "itq"], query, database, 16, settings)
    metrics |= initial_metrics(query, database, settings)
    for method in ("lsh", "itq", "initial"):
        for name in ("map@100", "map@all", "precision@1", "precision@10"):
            assert 0 <= metrics[f"{method}/{name}"] <= 1
    assert "lsh/precision_r2" in metrics and "initial/precision_r2" not in metrics
    with pytest.raises(
        ValueError,
        match="unknown \\['pca'\\]; choose among lsh, itq, sh, itq_cca, ksh, bre, mlh, sdh, lsh_i",
    ):
        hashing_metrics(["pca"], query, database, 16, settings)
    with pytest.raises(ValueError, match="'initial' is not a hashing baseline"):
        hashing_metrics(["initial"], query, database, 16, settings)
    # the same hashers on the features before fine-tuning: the rows of their own name
    initial = hashing_metrics(["itq"], query, database, 16, settings, initial_features=True)
    assert initial == {
        key.replace("itq/", "itq_initial/"): v
        for key, v in metrics.items()
        if key.startswith("itq/")
    }
    assert on_initial_features(["itq", "itq_initial", "lsh", "initial"]) == [
        "itq_initial",
        "initial",
    ]
