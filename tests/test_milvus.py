"""An index exported to a real Milvus server (the ``milvus`` package's embedded Milvus 2.3.5,
started once for this module) and searched through it: BCS by Milvus's binary search, HDS with
the pool and its features from Milvus, equal to the exact engine's up to ties. The server takes
10 to 40 s to start, so these tests are slow."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from test_backends import hamming, write_index

from ssdh_lightning.retrieval import Index

pytestmark = pytest.mark.slow
milvus = pytest.importorskip("milvus")
pytest.importorskip("pymilvus")

from ssdh_lightning.retrieval.backends.milvus import (  # noqa: E402
    MilvusSettings,
    export_to_milvus,
    record_file,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> MilvusSettings:
    server = milvus.MilvusServer()
    server.set_base_dir(str(tmp_path_factory.mktemp("milvus")))
    server.start()
    yield MilvusSettings(host="127.0.0.1", port=server.listen_port, collection="test")
    server.stop()


@pytest.fixture(scope="module")
def exported(server, tmp_path_factory) -> Index:
    index = write_index(tmp_path_factory.mktemp("index") / "index")
    export_to_milvus(index, server)
    return Index.load(index.folder)


def test_bcs_through_milvus_is_the_exact_ranking_up_to_ties(exported):
    query = exported.codes[np.arange(0, 400, 29)]
    found = exported.search(query, 25, "bcs", backend="milvus")
    ours = exported.search(query, 25, "bcs")
    truth = hamming(query, exported.codes)
    assert found.indices.dtype == np.int64 and found.distances.dtype == np.int32
    assert np.array_equal(found.distances, ours.distances)
    for a in range(len(query)):
        assert np.array_equal(truth[a, found.indices[a]], found.distances[a])
        assert len(set(found.indices[a])) == 25


@pytest.mark.parametrize("pool", [{"hds_threshold": 6}, {"hds_pool_size": 40}])
def test_hds_through_milvus_is_the_engines(exported, pool):
    rows = np.arange(0, 400, 31)
    query = exported.codes[rows]
    features = np.asarray(exported.features[rows], dtype=np.float32) + 0.01
    found = exported.search(query, 30, "hds", query_features=features, backend="milvus", **pool)
    ours = exported.search(query, 30, "hds", query_features=features, **pool)
    assert np.array_equal(found.pool_sizes, ours.pool_sizes)
    truth = hamming(query, exported.codes)
    deepest = np.sort(truth, axis=1)[:, 39]  # the 40th nearest distance: the size pool's edge
    for a, size in enumerate(ours.pool_sizes):
        taken = min(size, 30)
        if "hds_threshold" in pool:  # the same pool: the same ranking by features
            assert np.array_equal(found.indices[a, :taken], ours.indices[a, :taken])
        else:  # the m nearest may take other items of the edge's distance (ties)
            assert np.all(truth[a, found.indices[a]] <= deepest[a])
        assert len(set(found.indices[a])) == 30
        rest = found.indices[a]
        expected = np.linalg.norm(exported.features[rest].astype(np.float32) - features[a], axis=1)
        assert np.allclose(found.distances[a], expected, atol=1e-3)


def test_collections_of_other_codes_are_refused(server, tmp_path):
    first = write_index(tmp_path / "first", seed=3)
    export_to_milvus(first, replace(server, collection="other"))
    second = write_index(tmp_path / "second", seed=4)
    (second.folder / record_file(1)).write_text(
        json.dumps({**server.__dict__, "collection": "other"})
    )
    with pytest.raises(ValueError, match="it was exported from other codes"):
        Index.load(second.folder).search(second.codes[:1], 3, backend="milvus")
    (first.folder / record_file(1)).unlink()
    with pytest.raises(FileNotFoundError, match="was not exported to Milvus"):
        Index.load(first.folder).search(first.codes[:1], 3, backend="milvus")
