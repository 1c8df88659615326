"""search() and hamming_distances() against brute-force rankings."""

from __future__ import annotations

import numpy as np
import pytest

from ssdh_lightning.retrieval import (
    PackedCodes,
    hamming_distances,
    kernels,
    pack_codes,
    search,
    unpack_codes,
)
from ssdh_lightning.retrieval.kernels import top_k


def brute_force(query, database, query_features, database_features, mode, pool_rule=None):
    """Full rankings per PROTOCOL.md: stable sorts, HDS pool first, then Hamming order."""
    hamming = (query[:, None, :] != database[None, :, :]).sum(axis=2)
    euclid = (
        (query_features[:, None, :].astype(np.float64) - database_features[None, :, :]) ** 2
    ).sum(axis=2)
    rankings = []
    for a in range(len(query)):
        bcs = np.argsort(hamming[a], kind="stable")
        if mode == "bcs":
            rankings.append(bcs)
        elif mode == "es":
            rankings.append(np.argsort(euclid[a], kind="stable"))
        else:
            kind, value = pool_rule
            in_pool = np.zeros(len(database), bool)
            if kind == "threshold":
                in_pool = hamming[a] < value
            else:
                in_pool[bcs[:value]] = True
            pool = np.flatnonzero(in_pool)
            pool = pool[np.argsort(euclid[a][pool], kind="stable")]
            rankings.append(np.concatenate([pool, bcs[~in_pool[bcs]]]))
    return np.array(rankings), hamming, euclid


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return dict(
        query=rng.integers(0, 2, (7, 6)).astype(bool),
        database=rng.integers(0, 2, (90, 6)).astype(bool),
        query_features=rng.integers(0, 3, (7, 3)).astype(np.float32),
        database_features=rng.integers(0, 3, (90, 3)).astype(np.float32),
    )


@pytest.mark.parametrize("k", [1, 5, 90, 500])
def test_bcs_search_is_the_stable_hamming_ranking(data, k):
    expected, hamming, _ = brute_force(**data, mode="bcs")
    result = search(data["query"], data["database"], k)
    k = min(k, 90)
    np.testing.assert_array_equal(result.positions, expected[:, :k])
    np.testing.assert_array_equal(result.distances, np.take_along_axis(hamming, expected[:, :k], 1))


@pytest.mark.parametrize("n_parts", [1, 2, 3, 7])
@pytest.mark.parametrize("k", [1, 4, 100])
@pytest.mark.parametrize("bits", [5, 100, 150])
def test_a_database_split_into_parts_ranks_as_one_scan(n_parts, k, bits):
    """Parts of fewer items than k, ties across part borders, queries past one tile (16), and
    codes of one, two and three words (the scan's nearest-in-span check differs for each)."""
    rng = np.random.default_rng(n_parts)
    centres = rng.integers(0, 2, (4, bits)).astype(bool)  # near codes: the cut falls and skips
    query = centres[rng.integers(0, 4, 20)] ^ (rng.random((20, bits)) < 0.1)
    database = centres[rng.integers(0, 4, 9000)] ^ (rng.random((9000, bits)) < 0.1)
    hamming = (query[:, None, :] != database[None, :, :]).sum(axis=2)
    database = pack_codes(database)
    for rows in (slice(0, 1), slice(0, 20)):
        for n_database in (9000, 10, 2):
            kept = min(k, n_database)
            indices = np.empty((rows.stop, kept), np.int64)
            distances = np.empty((rows.stop, kept), np.int32)
            columns = np.ascontiguousarray(database.columns[:, :n_database])
            words = pack_codes(query[rows]).words()
            kernels.hamming_top_k(words, columns, kept, n_parts, indices, distances)
            truth = np.argsort(hamming[rows, :n_database], axis=1, kind="stable")[:, :kept]
            np.testing.assert_array_equal(indices, truth)
            np.testing.assert_array_equal(distances, np.take_along_axis(hamming[rows], truth, 1))


def test_one_query_over_a_large_database_is_split_across_threads(monkeypatch, data):
    monkeypatch.setattr(top_k, "_PART_ITEMS", 8)
    monkeypatch.setattr(top_k.nb, "get_num_threads", lambda: 4)
    assert kernels.database_parts(1, 90) == 4
    assert kernels.database_parts(1, 20) == 2
    assert kernels.database_parts(64, 90) == 1
    expected, _, _ = brute_force(**data, mode="bcs")
    for rows in (slice(0, 1), slice(0, 7)):
        result = search(data["query"][rows], data["database"], 10)
        np.testing.assert_array_equal(result.positions, expected[rows, :10])


@pytest.mark.parametrize("budget", [1, 10_000, 2**29])
def test_es_search_is_the_stable_euclidean_ranking(data, budget):
    expected, _, euclid = brute_force(**data, mode="es")
    result = search(
        None,
        None,
        10,
        "es",
        query_features=data["query_features"],
        database_features=data["database_features"],
        memory_budget=budget,
    )
    np.testing.assert_array_equal(result.positions, expected[:, :10])
    np.testing.assert_allclose(
        result.distances, np.sqrt(np.take_along_axis(euclid, expected[:, :10], 1)), rtol=1e-6
    )


@pytest.mark.parametrize(
    ("rule", "k"),
    [(("threshold", 2), 5), (("threshold", 2), 60), (("size", 4), 10), (("size", 30), 8)],
)
def test_hds_search_reranks_the_pool_and_follows_in_hamming_order(data, rule, k):
    expected, hamming, _ = brute_force(**data, mode="hds", pool_rule=rule)
    option = {"hds_threshold" if rule[0] == "threshold" else "hds_pool_size": rule[1]}
    result = search(
        data["query"],
        data["database"],
        k,
        "hds",
        query_features=data["query_features"],
        database_features=data["database_features"],
        **option,
    )
    np.testing.assert_array_equal(result.positions, expected[:, :k])
    expected_pool = (hamming < rule[1]).sum(1) if rule[0] == "threshold" else np.full(7, rule[1])
    np.testing.assert_array_equal(result.pool_sizes, expected_pool)
    # every result has its Euclidean distance, inside the pool and after it
    differences = data["query_features"][:, None] - data["database_features"][result.positions]
    euclid = np.sqrt((differences.astype(np.float64) ** 2).sum(-1))
    np.testing.assert_allclose(result.distances, euclid, rtol=1e-6, atol=1e-6)


def test_search_reads_memory_mapped_packed_codes_and_features(tmp_path, data):
    packed = pack_codes(data["database"])
    np.save(tmp_path / "codes.npy", packed.bytes)
    np.save(tmp_path / "features.npy", data["database_features"].astype(np.float16))
    database = PackedCodes(np.load(tmp_path / "codes.npy", mmap_mode="r"), packed.hash_bits)
    features = np.load(tmp_path / "features.npy", mmap_mode="r")
    expected = search(
        data["query"],
        data["database"],
        12,
        "hds",
        query_features=data["query_features"],
        database_features=data["database_features"],
    )
    result = search(
        data["query"],
        database,
        12,
        "hds",
        query_features=data["query_features"],
        database_features=features,
    )
    np.testing.assert_array_equal(result.positions, expected.positions)


def test_hamming_distances_and_packing_round_trip():
    rng = np.random.default_rng(1)
    for bits in (1, 7, 8, 48, 64, 65, 128, 130, 300):
        query = rng.integers(0, 2, (4, bits)).astype(bool)
        database = rng.integers(0, 2, (9, bits)).astype(bool)
        packed = pack_codes(database)
        assert packed.bytes.shape == (9, (bits + 7) // 8)
        np.testing.assert_array_equal(unpack_codes(packed), database)
        np.testing.assert_array_equal(
            hamming_distances(query, packed), (query[:, None] != database[None]).sum(2)
        )


def test_search_errors_name_the_problem(data):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        search(data["query"], data["database"], 0)
    with pytest.raises(ValueError, match="pass query_features and database_features"):
        search(data["query"], data["database"], 3, "es")
    with pytest.raises(ValueError, match="modes must be distinct names"):
        search(data["query"], data["database"], 3, "cosine")
    with pytest.raises(ValueError, match="query codes have 6 bits but database codes have 5"):
        search(data["query"], data["database"][:, :5], 3)
    wider = np.pad(data["query_features"], ((0, 0), (0, 2)))
    with pytest.raises(ValueError, match="encode the queries with the database's model"):
        search(
            data["query"],
            data["database"],
            3,
            "hds",
            query_features=wider,
            database_features=data["database_features"],
        )
    with pytest.raises(ValueError, match="PackedCodes of 12 bits need 2 bytes"):
        PackedCodes(np.zeros((3, 1), np.uint8), 12)


def test_pool_distances_of_pools_in_any_order():
    from ssdh_lightning.retrieval.euclidean import pool_squared_distances

    rng = np.random.default_rng(1)
    features = rng.integers(0, 5, (1500, 6)).astype(np.float32)  # exact sums; several blocks
    sizes = np.array([40, 0, 300, 1])  # one query's pool is empty
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    shuffled = [rng.choice(len(features), size, replace=False) for size in sizes]
    for pools in (shuffled, [np.sort(pool) for pool in shuffled]):
        expected = [
            ((features[a] - features[pool]) ** 2).sum(axis=1) for a, pool in enumerate(pools)
        ]
        distances = pool_squared_distances(features[:4], features, np.concatenate(pools), offsets)
        np.testing.assert_array_equal(distances, np.concatenate(expected))


def test_pool_distances_do_not_depend_on_which_queries_go_together():
    """On arbitrary floats (not exact sums), a pool's distances are the same bits whether its
    query is computed with 300 others or alone, and within float32 rounding of float64."""
    from ssdh_lightning.retrieval.euclidean import pool_squared_distances

    rng = np.random.default_rng(0)
    query = rng.standard_normal((300, 37)).astype(np.float32)
    database = rng.standard_normal((2000, 37)).astype(np.float32)
    sizes = rng.integers(0, 60, len(query))
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    items = np.concatenate([np.sort(rng.choice(len(database), s, replace=False)) for s in sizes])
    together = pool_squared_distances(query, database, items, offsets)
    alone = [
        pool_squared_distances(query[a : a + 1], database, items[start:stop], np.array([0, size]))
        for a, (start, stop, size) in enumerate(zip(offsets[:-1], offsets[1:], sizes, strict=True))
    ]
    np.testing.assert_array_equal(together, np.concatenate(alone))
    expected = ((query[np.repeat(np.arange(len(query)), sizes)] - database[items]) ** 2).astype(
        np.float64
    )
    np.testing.assert_allclose(together, expected.sum(axis=1), rtol=1e-5, atol=1e-4)
