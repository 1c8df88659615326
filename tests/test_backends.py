"""FAISS's binary indexes as backends of ``Index.search``: checked against Hamming distances
written out here, against the exact engine, saved beside the index and refused when they belong
to other codes; built by ssdh-index and chosen in ssdh-search."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from helpers import (
    CLUSTERED_BITS,
    CLUSTERED_DIM,
    call_tool,
    hamming,
    write_clustered_index,
    write_digits,
)
from ssdh_lightning.retrieval import Index, PackedCodes
from ssdh_lightning.retrieval.backends import (
    BACKEND_FILE,
    BACKENDS,
    BUILT_BY_INDEX,
    HammingBackend,
    SearchParameters,
)
from ssdh_lightning.retrieval.backends.faiss_binary import (
    IVFSettings,
    MultiHashSettings,
    build_faiss_backend,
)

faiss = pytest.importorskip("faiss")

BITS, DIM = CLUSTERED_BITS, CLUSTERED_DIM
EXACT = {  # settings under which each backend reaches every item
    "faiss": ({}, None),
    "multihash": ({"nflip": 12}, MultiHashSettings(tables=4, nflip=1)),
    "ivf": ({"nprobe": 8}, IVFSettings(nlist=8, nprobe=2, hnsw_m=8)),
}


def with_backend(folder, name: str) -> Index:
    index = write_clustered_index(folder)
    if EXACT[name][1] is not None:
        build_faiss_backend(index, name, EXACT[name][1])
    return Index.load(folder)  # loaded as a search would: from the files


@pytest.mark.parametrize("name", list(EXACT))
def test_bcs_reaching_every_item_gives_the_exact_neighbours(tmp_path, name):
    index = with_backend(tmp_path / "index", name)
    query = index.codes[np.arange(0, 400, 37)]
    k = 25
    found = index.search(query, k, "bcs", backend=name, **EXACT[name][0])
    truth = hamming(query, index.codes)
    assert found.positions.dtype == np.int64 and found.distances.dtype == np.int32
    for a in range(len(query)):
        assert len(set(found.positions[a])) == k
        assert np.array_equal(found.distances[a], truth[a, found.positions[a]])
        assert np.array_equal(found.distances[a], np.sort(truth[a])[:k])


@pytest.mark.parametrize("name", list(EXACT))
def test_hds_pool_by_threshold_is_the_engines(tmp_path, name):
    index = with_backend(tmp_path / "index", name)
    query = index.codes[np.arange(0, 400, 23)]
    features = np.asarray(index.features[np.arange(0, 400, 23)], dtype=np.float32) + 0.01
    options = {"query_features": features, "hds_threshold": 6}
    theirs = index.search(query, 30, "hds", backend=name, **options, **EXACT[name][0])
    ours = index.search(query, 30, "hds", **options)
    truth = hamming(query, index.codes)
    assert np.array_equal(theirs.pool_sizes, (truth < 6).sum(axis=1))
    assert np.array_equal(theirs.pool_sizes, ours.pool_sizes)
    assert theirs.pool_sizes.min() < 30 < theirs.pool_sizes.max()  # both sides of k are seen
    for a, size in enumerate(ours.pool_sizes):
        taken = min(size, 30)  # the pool is ranked by features, ties by position: identical
        assert np.array_equal(theirs.positions[a, :taken], ours.positions[a, :taken])
        rest = theirs.positions[a, taken:]  # then Hamming order: equal up to ties
        assert not set(rest) & set(theirs.positions[a, :taken])
        assert np.array_equal(np.sort(truth[a, rest]), np.sort(truth[a, ours.positions[a, taken:]]))
        assert np.array_equal(theirs.distances[a, :taken], ours.distances[a, :taken])
        euclidean = np.linalg.norm(index.features[rest].astype(np.float32) - features[a], axis=1)
        assert np.allclose(theirs.distances[a, taken:], euclidean, atol=1e-3)


@pytest.mark.parametrize(
    ("name", "built", "setting", "values"),
    [
        ("multihash", MultiHashSettings(tables=4, nflip=0), "nflip", [0, 1, 2]),
        ("ivf", IVFSettings(nlist=8, nprobe=1, hnsw_m=8), "nprobe", [1, 3, 8]),
    ],
)
def test_a_searchs_own_setting_goes_with_it_and_changes_no_other_search(
    tmp_path, name, built, setting, values
):
    """Searches with different nflip (nprobe) side by side each get what that value gives alone,
    and the backend keeps the value it was built with."""
    index = write_clustered_index(tmp_path / "index")
    build_faiss_backend(index, name, built)
    backend = Index.load(tmp_path / "index").hamming_backend(name)
    query = index.codes[np.arange(0, 400, 7)]
    alone = {}
    for value in values:
        parameters = SearchParameters(**{setting: value})
        alone[value] = (backend.top_k(query, 20, parameters), backend.within(query, 9, parameters))
    reached = [int(alone[value][1][0].sum()) for value in values]  # the pools' sizes
    assert reached == sorted(reached) and reached[0] < reached[-1]  # the settings matter here

    def both(value):
        parameters = SearchParameters(**{setting: value})
        return backend.top_k(query, 20, parameters), backend.within(query, 9, parameters)

    asked = values * 8
    with ThreadPoolExecutor(max_workers=6) as pool:
        for value, (top, (sizes, items)) in zip(asked, pool.map(both, asked), strict=True):
            assert np.array_equal(top.positions, alone[value][0].positions)
            assert np.array_equal(sizes, alone[value][1][0])
            assert np.array_equal(items, alone[value][1][1])
    assert getattr(backend.faiss_index, setting) == values[0]
    default = backend.top_k(query, 20)
    assert np.array_equal(default.positions, alone[values[0]][0].positions)


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_registered_backend_implements_the_one_interface(tmp_path, name):
    kind = BACKENDS[name]
    assert issubclass(kind, HammingBackend) and not kind.__abstractmethods__
    assert set(kind.parameters) <= {"nflip", "nprobe"}
    overrides = {
        method: getattr(kind, method).__func__ is not getattr(HammingBackend, method).__func__
        for method in ("build", "check_parameters")
    }
    assert overrides == {"build": kind.built_by_index, "check_parameters": False}
    assert (kind.features is not HammingBackend.features) == kind.holds_features
    assert (name in BUILT_BY_INDEX) == kind.built_by_index
    if kind.file_stem is not None:
        assert BACKEND_FILE.match(f"{kind.file_stem}.000001.json")
    for setting in ("nflip", "nprobe"):
        if setting not in kind.parameters:
            with pytest.raises(ValueError, match=f"{setting} sets .*, not backend='{name}'"):
                kind.check_parameters(SearchParameters(**{setting: 1}))
    if name == "milvus":
        return  # needs a server: test_milvus.py searches it
    index = write_clustered_index(tmp_path / "index")
    exact, settings = EXACT.get(name, ({}, None))
    if kind.built_by_index:
        assert kind.build(index, settings).endswith(f"{kind.file_stem}.000001.bin")
    loaded = Index.load(tmp_path / "index").hamming_backend(name)
    assert isinstance(loaded, kind)
    query, parameters = index.codes[:5], SearchParameters(**exact)
    truth = hamming(query, index.codes)
    found = loaded.top_k(query, 10, parameters)
    assert np.array_equal(found.distances, np.sort(truth, axis=1)[:, :10])
    sizes, _ = loaded.within(query, 6, parameters)
    assert np.array_equal(sizes, (truth < 6).sum(axis=1))


def test_multihash_answers_a_radius_exactly_by_the_pigeonhole_rule(tmp_path):
    """Distance < 9 over 4 tables: some substring is within (9 - 1) // 4 = 2 bits."""
    index = write_clustered_index(tmp_path / "index", seed=2)
    build_faiss_backend(index, "multihash", MultiHashSettings(tables=4, nflip=2))
    query = index.codes[np.arange(0, 400, 11)]
    sizes, items = index.hamming_backend("multihash").within(query, 9)
    truth = hamming(query, index.codes)
    assert np.array_equal(sizes, (truth < 9).sum(axis=1))
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    for a in range(len(query)):
        assert np.array_equal(items[offsets[a] : offsets[a + 1]], np.flatnonzero(truth[a] < 9))


def test_what_a_backend_does_not_reach_is_padded(tmp_path):
    index = write_clustered_index(tmp_path / "index")
    build_faiss_backend(index, "multihash", MultiHashSettings(tables=4, nflip=0))
    rng = np.random.default_rng(5)
    query = PackedCodes(np.packbits(rng.random((6, BITS)) < 0.5, axis=1), BITS)  # far from all
    truth = hamming(query, index.codes)
    found = index.search(query, 20, "bcs", backend="multihash")
    missing = found.positions < 0
    assert missing.any()
    assert np.all(found.distances[missing] == BITS + 1)
    for a in range(len(query)):
        reached = found.positions[a][~missing[a]]
        assert np.array_equal(found.distances[a][~missing[a]], truth[a, reached])
        assert np.all(missing[a, missing[a].argmax() :])  # the padding comes last
    features = np.zeros((6, DIM), dtype=np.float32)
    hds = index.search(
        query, 20, "hds", query_features=features, hds_pool_size=10, backend="multihash"
    )
    assert np.all(hds.pool_sizes <= 10) and hds.pool_sizes.min() < 10
    assert np.all(np.isinf(hds.distances[hds.positions < 0]))
    assert np.all(np.isfinite(hds.distances[hds.positions >= 0]))


def test_a_backend_of_other_codes_is_refused(tmp_path):
    folder = tmp_path / "index"
    index = write_clustered_index(folder)
    build_faiss_backend(index, "ivf", IVFSettings(nlist=4, nprobe=1, hnsw_m=8))
    names = sorted(path.name for path in folder.glob("faiss_*"))
    assert names == ["faiss_ivf.000001.bin", "faiss_ivf.000001.json"]
    shutil.copytree(folder, tmp_path / "generation1")

    # the next generation removes the backend of the codes it replaced
    write_clustered_index(folder, seed=1)
    assert not list(folder.glob("faiss_*"))
    for name in names:  # put back beside the new codes
        shutil.copy(tmp_path / "generation1" / name, folder / name)
    with pytest.raises(FileNotFoundError, match=r"\(generation 2\) has no ivf backend \(found "):
        Index.load(folder).search(index.codes[:1], 3, backend="ivf")
    for name in names:  # renamed as if of this generation: its record says otherwise
        (folder / name).rename(folder / name.replace("000001", "000002"))
    with pytest.raises(ValueError, match=r"built for generation 1, but the index .* has 2"):
        Index.load(folder).search(index.codes[:1], 3, backend="ivf")

    record_path = folder / "faiss_ivf.000002.json"
    record = json.loads(record_path.read_text())
    record.update(generation=2, hash_bits=32)
    record_path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"built for hash_bits 32, but the index .* has 48"):
        Index.load(folder).search(index.codes[:1], 3, backend="ivf")

    damaged = tmp_path / "generation1"  # a backend of its own codes, one byte changed
    data = bytearray((damaged / names[0]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (damaged / names[0]).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match the sha256 of its record"):
        Index.load(damaged).search(index.codes[:1], 3, backend="ivf")


def test_bad_backend_settings_are_refused_with_the_fix(tmp_path):
    index = write_clustered_index(tmp_path / "index")
    with pytest.raises(ValueError, match="substrings of 0 bits; FAISS needs 1 to 64"):
        build_faiss_backend(index, "multihash", MultiHashSettings(tables=49))
    with pytest.raises(ValueError, match=r"ivf\.nlist=1000 lists need at least as many codes"):
        build_faiss_backend(index, "ivf", IVFSettings(nlist=1000))
    with pytest.raises(FileNotFoundError, match=r"backends=\[multihash\]"):
        index.search(index.codes[:1], 3, backend="multihash")
    build_faiss_backend(index, "multihash", MultiHashSettings(tables=4))
    with pytest.raises(ValueError, match="nprobe sets backend='ivf', not backend='multihash'"):
        index.search(index.codes[:1], 3, backend="multihash", nprobe=3)
    with pytest.raises(ValueError, match="nflip sets backend='multihash', not backend='engine'"):
        index.search(index.codes[:1], 3, nflip=3)
    with pytest.raises(ValueError, match="mode='es' ranks features only"):
        index.search(None, 3, "es", query_features=np.zeros((1, DIM)), backend="multihash")


def test_index_builds_the_backends_and_search_uses_them(trained_run, tmp_path, capsys):
    images = tmp_path / "images"
    write_digits(images, range(40))
    out = tmp_path / "index"
    index_options = [
        f"ckpt_path={trained_run / 'checkpoints' / 'last.ckpt'}",
        f"images={images}",
        f"out={out}",
        "num_workers=0",
        "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false",
        "backends=[multihash,ivf]",
        "multihash.tables=6",
        "ivf.nlist=4",
    ]
    call_tool("ssdh-index", *index_options, run_dir=tmp_path / "run")
    assert f"backend ivf: {out / 'faiss_ivf.000001.bin'}" in capsys.readouterr().out
    record = json.loads((out / "faiss_multihash.000001.json").read_text())
    assert record["settings"] == {"tables": 6, "nflip": 1}
    query = images / "3" / "0003.png"
    search = [f"index={out}", f"query={query}", "k=3", "output=json"]
    call_tool("ssdh-search", *search, "mode=hds", "hds_threshold=8", "backend=ivf", "nprobe=4")
    answer = json.loads(capsys.readouterr().out)
    assert answer["queries"][0]["results"][0]["path"] == "3/0003.png"


def test_serve_settings_take_a_backend():
    from ssdh_lightning.serve import ServeSettings

    assert ServeSettings(backend="multihash").backend == "multihash"
    with pytest.raises(ValueError, match="backend must be one of"):
        ServeSettings(backend="annoy")
