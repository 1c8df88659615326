"""An index exported to a real Milvus server (the ``milvus`` package's embedded Milvus 2.3.5,
started once for this module) and searched through it: BCS by Milvus's binary search, HDS with
the pool and its features from Milvus, equal to the exact engine's up to ties; then the same
through ``ssdh-index backends=[milvus]`` and ``ssdh-serve settings.backend=milvus``'s app (both
in this process). Items are keyed in Milvus by their stable ids, which here are not their
positions."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from helpers import (
    app_client,
    build,
    call_tool,
    hamming,
    index_command,
    upload,
    write_clustered_index,
    write_digits,
)
from ssdh_lightning.indexing import search_images
from ssdh_lightning.indexing.answer import json_report
from ssdh_lightning.retrieval import Index

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
    ids = 7 + 3 * np.arange(400)  # ids that are not positions, as after an index's updates
    index = write_clustered_index(tmp_path_factory.mktemp("index") / "index", ids=ids)
    export_to_milvus(index, server)
    return Index.load(index.folder)


def test_bcs_through_milvus_is_the_exact_ranking_up_to_ties(exported):
    query = exported.codes[np.arange(0, 400, 29)]
    found = exported.search(query, 25, "bcs", backend="milvus")
    ours = exported.search(query, 25, "bcs")
    truth = hamming(query, exported.codes)
    assert found.positions.dtype == np.int64 and found.distances.dtype == np.int32
    assert np.array_equal(found.distances, ours.distances)
    for a in range(len(query)):
        assert np.array_equal(truth[a, found.positions[a]], found.distances[a])
        assert len(set(found.positions[a])) == 25


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
            assert np.array_equal(found.positions[a, :taken], ours.positions[a, :taken])
        else:  # the m nearest may take other items of the edge's distance (ties)
            assert np.all(truth[a, found.positions[a]] <= deepest[a])
        assert len(set(found.positions[a])) == 30
        rest = found.positions[a]
        expected = np.linalg.norm(exported.features[rest].astype(np.float32) - features[a], axis=1)
        assert np.allclose(found.distances[a], expected, atol=1e-3)


def test_collections_of_other_codes_are_refused(server, exported, tmp_path):
    other = write_clustered_index(tmp_path / "other", seed=4)
    # a record that names the collections of ``exported``: other codes of as many items
    (other.folder / record_file(1)).write_text(json.dumps(server.__dict__))
    with pytest.raises(ValueError, match="it was exported from other codes"):
        Index.load(other.folder).search(other.codes[:1], 3, backend="milvus")
    (other.folder / record_file(1)).unlink()
    with pytest.raises(FileNotFoundError, match="was not exported to Milvus"):
        Index.load(other.folder).search(other.codes[:1], 3, backend="milvus")


def test_an_id_the_index_does_not_hold_is_refused(server, tmp_path):
    index = write_clustered_index(tmp_path / "index", ids=2 * np.arange(400))
    foreign = replace(server, collection="foreign")
    export_to_milvus(index, foreign)
    pymilvus = pytest.importorskip("pymilvus")
    pymilvus.connections.connect("foreign", host=server.host, port=str(server.port))
    codes = pymilvus.Collection("foreign_codes", using="foreign")
    codes.insert([[1], [bytes(np.asarray(index.codes.bytes[0]))], [0], ["elsewhere.png"]])
    codes.flush()
    with pytest.raises(ValueError, match=r"holds item ids the index does not \(\[1\]\)"):
        Index.load(index.folder).search(index.codes[:1], 5, backend="milvus")


def test_ssdh_index_exports_and_ssdh_serve_searches_through_milvus(
    server, trained_run, tmp_path, capsys
):
    checkpoint = trained_run / "checkpoints" / "last.ckpt"
    images, out = tmp_path / "images", tmp_path / "digits.index"
    paths = write_digits(images, range(30))
    build(checkpoint, images, out)
    paths[3].unlink()  # the second generation's ids skip it: ids are not positions
    write_digits(images, range(30, 34))
    export = ["backends=[milvus]", f"milvus.host={server.host}", f"milvus.port={server.port}"]
    command = index_command(checkpoint, images, out, *export, "milvus.collection=served")
    call_tool("ssdh-index", *command, run_dir=tmp_path / "run")
    assert "backend milvus: collections served_codes and _features" in capsys.readouterr().out
    index = Index.load(out)
    assert index.ids.tolist() != list(range(len(index)))
    with app_client(out, backend="milvus") as client:
        query = images / "5" / "0005.png"
        truth = hamming(index.codes, index.codes)[index.paths.tolist().index("5/0005.png")]
        for mode in ("bcs", "hds"):
            answer = upload(client, query, k=8, mode=mode)
            assert answer.status_code == 200, answer.text
            found = answer.json()["queries"][0]["results"]
            expected = json_report(index, search_images(index, query, k=8, mode=mode))
            expected = expected["queries"][0]["results"]
            assert [hit["distance"] for hit in found] == [hit["distance"] for hit in expected]
            for hit in found:  # ties may come in another order: each hit is what it says
                assert hit["path"] == index.paths[hit["position"]]
                assert hit["id"] == index.ids[hit["position"]]
                if mode == "bcs":
                    assert hit["distance"] == truth[hit["position"]]
            if mode == "hds":  # the pool is every item (1,000 > 33): the engine's own ranking
                assert found == expected
