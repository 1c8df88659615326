"""The persisted index of ``retrieval.index``: written, read back, searched, and refused when
damaged, with the previous index always left as it was."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import array_file, write_random_index
from ssdh_lightning.retrieval import Index, IndexWriter, search
from ssdh_lightning.retrieval.index import FORMAT_VERSION, existing_index

BITS, DIM = 48, 16


def damage_last_byte(index: Index, name: str) -> None:
    path = array_file(index, name)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_an_index_reads_back_what_was_written(tmp_path):
    written = write_random_index(tmp_path / "index", 50)
    index = Index.load(tmp_path / "index", verify=True)
    assert len(index) == 50 and index.hash_bits == BITS and index.feature_dim == DIM
    assert np.array_equal(index.codes.bytes, written.codes.bytes)
    assert index.features.dtype == np.float16 and isinstance(index.features, np.memmap)
    assert index.paths[7] == "class_1/image_7.jpg"
    assert index.class_names == ["class_0", "class_1", "class_2"]
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION and manifest["count"] == 50
    assert manifest["arrays"]["codes"]["shape"] == [50, 6]
    assert len(manifest["arrays"]["features"]["sha256"]) == 64


@pytest.mark.parametrize("mode", ["bcs", "es", "hds"])
def test_index_search_is_the_engines_search(tmp_path, mode):
    index = write_random_index(tmp_path / "index", 300)
    query, query_features = index.codes[np.arange(5)], np.asarray(index.features[:5])
    found = index.search(query, 10, mode, query_features=query_features, hds_pool_size=50)
    expected = search(
        query,
        index.codes,
        10,
        mode,
        query_features=query_features,
        database_features=index.features,
        hds_pool_size=50,
    )
    assert np.array_equal(found.positions, expected.positions)
    assert np.array_equal(found.distances, expected.distances)
    if mode != "bcs":  # every item finds itself first by its features
        assert np.array_equal(found.positions[:, 0], np.arange(5))


def test_faiss_backend_gives_the_engines_distances(tmp_path):
    pytest.importorskip("faiss")
    index = write_random_index(tmp_path / "index", 300)
    query = index.codes[np.arange(8)]
    ours = index.search(query, 10, "bcs")
    theirs = index.search(query, 10, "bcs", backend="faiss")
    assert theirs.positions.dtype == np.int64 and theirs.distances.dtype == np.int32
    assert np.array_equal(ours.distances, theirs.distances)
    with pytest.raises(ValueError, match="mode='es' ranks features only"):
        index.search(None, 10, "es", query_features=index.features[:8], backend="faiss")


def test_search_refuses_queries_of_another_model(tmp_path):
    index = write_random_index(tmp_path / "index", 20)
    with pytest.raises(ValueError, match="query codes have 16 bits but database codes have 48"):
        index.search(np.zeros((1, 16), dtype=bool), 5, "bcs")
    with pytest.raises(ValueError, match="query_features have 8 values but database_features have"):
        index.search(None, 5, "es", query_features=np.zeros((1, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="backend must be one of"):
        index.search(index.codes[np.arange(1)], 5, backend="annoy")


def test_a_new_generation_replaces_the_files_of_the_old(tmp_path):
    write_random_index(tmp_path / "index", 20, seed=0)
    second = write_random_index(tmp_path / "index", 30, seed=1)
    assert second.generation == 2 and len(Index.load(tmp_path / "index")) == 30
    files = sorted(path.name for path in (tmp_path / "index").iterdir())
    assert files == sorted(
        ["manifest.json", *(record["file"] for record in second.manifest["arrays"].values())]
    )
    assert all(".000002." in name for name in files if name != "manifest.json")


def test_a_failed_write_leaves_the_previous_index_intact(tmp_path):
    first = write_random_index(tmp_path / "index", 20)
    before = (tmp_path / "index" / "manifest.json").read_text()
    with (
        pytest.raises(RuntimeError, match="stopped"),
        IndexWriter(tmp_path / "index", 40, BITS, DIM) as writer,
    ):
        writer.codes[:10] = 1
        raise RuntimeError("stopped half way")
    assert (tmp_path / "index" / "manifest.json").read_text() == before
    again = Index.load(tmp_path / "index", verify=True)
    assert np.array_equal(again.codes.bytes, first.codes.bytes)
    assert not list((tmp_path / "index").glob("*.000002.npy"))


def test_a_truncated_array_is_refused(tmp_path):
    index = write_random_index(tmp_path / "index", 50)
    path = array_file(index, "features")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"cannot be read .*index at .* is damaged: delete"):
        Index.load(tmp_path / "index")


def test_a_changed_byte_fails_the_checksum(tmp_path):
    index = write_random_index(tmp_path / "index", 50)
    damage_last_byte(index, "codes")
    with pytest.raises(ValueError, match="does not match its checksum"):
        Index.load(tmp_path / "index")


def test_the_features_checksum_is_checked_on_request(tmp_path):
    index = write_random_index(tmp_path / "index", 50)
    damage_last_byte(index, "features")
    assert len(Index.load(tmp_path / "index")) == 50  # by default: sizes only, no full read
    with pytest.raises(ValueError, match=r"features\.000001\.npy does not match its checksum"):
        Index.load(tmp_path / "index", verify=True)


def test_an_index_of_a_newer_format_asks_for_an_upgrade(tmp_path):
    write_random_index(tmp_path / "index", 10)
    manifest_path = tmp_path / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=rf"format version {FORMAT_VERSION + 1}, newer .*upgrade"):
        Index.load(tmp_path / "index")


def test_a_truncated_manifest_is_refused(tmp_path):
    write_random_index(tmp_path / "index", 10)
    manifest_path = tmp_path / "index" / "manifest.json"
    manifest_path.write_text(manifest_path.read_text()[:40])
    with pytest.raises(ValueError, match="not valid JSON"):
        Index.load(tmp_path / "index")


def test_a_folder_without_an_index_is_named_as_such(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"is not an index: it has no manifest\.json"):
        Index.load(tmp_path)
    assert existing_index(tmp_path / "absent") is None
    assert existing_index(tmp_path) is None  # an empty folder


def test_a_folder_of_other_files_is_never_written_into(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"not mine")
    with pytest.raises(ValueError, match=r"holds files that are not an index's \(cat.jpg\)"):
        write_random_index(tmp_path / "photos", 10)
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["cat.jpg"]
