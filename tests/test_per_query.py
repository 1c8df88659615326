"""Per-query figures: each query's AP@k and precision@k of every row, with the queries' ids, in
per_query.npz beside metrics.json; written by training and evaluation, read without pickle."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from helpers import DIGITS, load_benchmark
from ssdh_lightning.data.splits import stratified_split
from ssdh_lightning.per_query import read_per_query, write_per_query
from ssdh_lightning.retrieval import EvaluationSet, RetrievalSettings, score_retrieval
from ssdh_lightning.run_files import METRICS_FILE, PER_QUERY_FILE

ROWS = ("bcs", "es", "hds", "lsh", "itq", "initial")  # the default run's rows
FIGURES = ("map@1000", "map@all", "precision@1", "precision@10", "precision@100", "precision@1000")


def ap_at(relevant: np.ndarray, k: int) -> float:
    """AP@k by PROTOCOL.md: relevant items within the top k, each at its precision."""
    top = relevant[:k]
    if not top.any():
        return 0.0
    ranks = np.flatnonzero(top) + 1
    return float(np.mean(np.cumsum(top)[ranks - 1] / ranks))


def test_the_engines_per_query_figures_are_ap_and_precision_of_each_query():
    rng = np.random.default_rng(0)
    query_codes, database_codes = rng.random((30, 16)) < 0.5, rng.random((200, 16)) < 0.5
    query_labels, database_labels = rng.integers(0, 4, 30), rng.integers(0, 4, 200)
    settings = RetrievalSettings(modes=("bcs",), map_at=(10, "all"), precision_at=(5, 50))
    scores = score_retrieval(
        EvaluationSet(query_labels, query_codes),
        EvaluationSet(database_labels, database_codes),
        settings=settings,
    )
    per_query, metrics = scores.per_query(), scores.metrics()
    distances = (query_codes[:, None, :] != database_codes[None, :, :]).sum(axis=2)
    for q in range(30):
        order = np.argsort(distances[q], kind="stable")  # ties by database position
        relevant = database_labels[order] == query_labels[q]
        assert per_query["bcs/map@10"][q] == pytest.approx(ap_at(relevant, 10))
        assert per_query["bcs/map@all"][q] == pytest.approx(ap_at(relevant, 200))
        assert per_query["bcs/precision@5"][q] == pytest.approx(relevant[:5].mean())
        assert per_query["bcs/precision@50"][q] == pytest.approx(relevant[:50].mean())
    assert set(per_query) == {"bcs/map@10", "bcs/map@all", "bcs/precision@5", "bcs/precision@50"}
    for key, values in per_query.items():
        assert np.mean(values) == metrics[key]  # the mean metrics.json keeps, from these


def test_a_training_run_writes_its_per_query_figures(trained_run):
    """per_query.npz of a default digits run: every row and k, the queries of the run's split
    (seed 3), and means that are the run's metrics. (ssdh-eval writes the same: test_train_cli.)"""
    per_query = read_per_query(trained_run / PER_QUERY_FILE)
    metrics = json.loads((trained_run / METRICS_FILE).read_text())
    digits_query, _ = stratified_split(DIGITS.target, 0.2, 3)  # the split's query ids
    assert per_query.query_ids.tolist() == digits_query.tolist()
    assert set(per_query.figures) == {f"{row}/{figure}" for row in ROWS for figure in FIGURES}
    for key, values in per_query.figures.items():
        assert values.dtype == np.float32 and values.shape == digits_query.shape
        assert float(np.mean(values, dtype=np.float64)) == pytest.approx(metrics[key], abs=1e-6)


def written(tmp_path, arrays: dict) -> object:
    path = tmp_path / PER_QUERY_FILE
    np.savez(path, **arrays)
    return path


GOOD = {"query_ids": np.arange(3), "bcs/map@all": np.array([0.5, 1.0, 0.0])}
DAMAGED = [
    ({"bcs/map@all": GOOD["bcs/map@all"]}, "has no array 'query_ids'"),
    (GOOD | {"query_ids": np.array([0, 1, 1])}, "holds an id more than once"),
    (GOOD | {"query_ids": np.array([0.0, 1.0, 2.0])}, "query_ids must be integers"),
    (GOOD | {"bcs/map@all": np.array([0.5, 1.0])}, "'bcs/map@all' must hold one number per query"),
    (GOOD | {"bcs/map@all": np.array([0.5, np.nan, 1.0])}, "holds a value that is not finite"),
    (GOOD | {"map@all": np.array([0.5, 1.0, 0.0])}, "is not a figure of a row"),
]


@pytest.mark.parametrize(("arrays", "message"), DAMAGED)
def test_damaged_per_query_figures_are_named(tmp_path, arrays, message):
    with pytest.raises(ValueError, match=message) as error:
        read_per_query(written(tmp_path, arrays))
    assert str(error.value).startswith(PER_QUERY_FILE)


def test_a_file_that_is_no_npz_or_holds_objects_is_refused_without_unpickling(tmp_path):
    path = tmp_path / PER_QUERY_FILE
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot be read as the per-query figures"):
        read_per_query(path)
    marker = tmp_path / "unpickled"
    stream = io.BytesIO()
    np.save(stream, np.array([Marker(marker)], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("query_ids.npy", stream.getvalue())
    with pytest.raises(ValueError, match="cannot be read as the per-query figures"):
        read_per_query(path)
    assert not marker.exists()


class Marker:
    """An object that writes a file when it is unpickled."""

    def __init__(self, path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_written_figures_read_back_as_float32_by_key(tmp_path):
    path = write_per_query(tmp_path / "run" / PER_QUERY_FILE, [7, 3], {"lsh/map@all": [0.25, 1.0]})
    per_query = read_per_query(path)
    assert per_query.query_ids.tolist() == [7, 3]
    assert per_query.figures["lsh/map@all"].tolist() == [0.25, 1.0]
    with pytest.raises(ValueError, match="one number per query"):
        write_per_query(path, [1, 2, 3], {"lsh/map@all": [0.25, 1.0]})
    assert read_per_query(path).query_ids.tolist() == [7, 3]  # left as it was


def test_the_per_query_benchmark_at_a_small_size():
    row = load_benchmark("bench_per_query").run(200, 1000, resamples=200, repeat=1)
    assert row["arrays"] == 36 and row["raw_bytes"] == 36 * 200 * 4 + 8 * 200
    assert 0 < row["file_bytes"] < row["raw_bytes"] and row["bootstrap_columns"] == 12
    assert row["write_s"] > 0 and row["read_s"] > 0 and row["bootstrap_s"] > 0
