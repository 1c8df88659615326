"""Synthetic retrieval data that behaves like trained codes: clustered by class, with noise.

Uniform random codes tell nothing (every query sees the same distance spread); codes drawn around
a centre per class, with bits flipped at random, have the tie structure and the mAP range of a
trained model. Features are class centres plus Gaussian noise, after a ReLU like fc7.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ssdh_lightning.retrieval import EvaluationSet, Index, IndexWriter, pack_codes
from ssdh_lightning.strings import PackedStrings

INDEX_CLASSES = 100
INDEX_CHUNK = 65_536


def clustered_labels(rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    return rng.integers(0, classes, n)


def clustered_codes(
    rng: np.random.Generator, labels: np.ndarray, centres: np.ndarray, flip: float
) -> np.ndarray:
    """(n, bits) bool: each item's class centre with each bit flipped with probability ``flip``."""
    return centres[labels] ^ (rng.random((len(labels), centres.shape[1])) < flip)


def clustered_features(
    rng: np.random.Generator, labels: np.ndarray, centres: np.ndarray, noise: float
) -> np.ndarray:
    """(n, dim) float32: the class centre plus Gaussian noise, through a ReLU."""
    noise = rng.standard_normal((len(labels), centres.shape[1]), np.float32) * noise
    return np.maximum(centres[labels] + noise, 0)


def retrieval_problem(
    n_query: int,
    n_database: int,
    bits: int,
    feature_dim: int = 0,
    classes: int = 10,
    flip: float = 0.12,
    noise: float = 0.7,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Query and database codes, labels and (when ``feature_dim``) features of one distribution."""
    rng = np.random.default_rng(seed)
    code_centres = rng.random((classes, bits)) < 0.5
    problem = {}
    for side, n in (("query", n_query), ("database", n_database)):
        labels = clustered_labels(rng, n, classes)
        problem[f"{side}_labels"] = labels
        problem[f"{side}_codes"] = clustered_codes(rng, labels, code_centres, flip)
    if feature_dim:
        feature_centres = rng.random((classes, feature_dim), dtype=np.float32)
        for side in ("query", "database"):
            labels = problem[f"{side}_labels"]
            problem[f"{side}_features"] = clustered_features(rng, labels, feature_centres, noise)
    return problem


def sides(problem: dict) -> tuple[EvaluationSet, EvaluationSet]:
    """The query and database sides of a ``retrieval_problem``, for ``score_retrieval``."""
    return tuple(
        EvaluationSet(
            problem[f"{side}_labels"], problem[f"{side}_codes"], problem[f"{side}_features"]
        )
        for side in ("query", "database")
    )


def write_synthetic_index(
    folder: Path, items: int, bits: int, feature_dim: int, seed: int
) -> Index:
    """A synthetic index, written chunk by chunk (never whole in memory)."""
    rng = np.random.default_rng(seed)
    code_centres = rng.random((INDEX_CLASSES, bits)) < 0.5
    feature_centres = rng.random((INDEX_CLASSES, feature_dim), dtype=np.float32)
    labels = rng.integers(0, INDEX_CLASSES, items)
    with IndexWriter(folder, items, bits, feature_dim) as writer:
        for start in range(0, items, INDEX_CHUNK):
            chunk = labels[start : start + INDEX_CHUNK]
            rows = slice(start, start + len(chunk))
            writer.codes[rows] = pack_codes(clustered_codes(rng, chunk, code_centres, 0.1)).bytes
            writer.features[rows] = clustered_features(rng, chunk, feature_centres, noise=1.0)
        names = [f"class_{label:03d}/{i:07d}.jpg" for i, label in enumerate(labels)]
        return writer.commit(
            labels=labels,
            paths=PackedStrings.pack(names),
            file_sizes=np.full(items, 20_000),
            file_mtimes_ns=np.zeros(items, dtype=np.int64),
            metadata={"class_names": [f"class_{c:03d}" for c in range(INDEX_CLASSES)]},
        )
