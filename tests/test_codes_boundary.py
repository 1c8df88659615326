"""The 0/1 check at the engine's door: every dtype packs as numpy.packbits of the bits, any
other value is refused with the value named, and a 0/1 multi-label matrix is read the same way."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssdh_lightning.retrieval import PackedCodes, pack_codes, search
from ssdh_lightning.retrieval import codes as codes_module


def _bits(seed: int = 0, shape=(7, 13)) -> np.ndarray:
    return np.random.default_rng(seed).random(shape) > 0.5


@pytest.mark.parametrize(
    "dtype", [np.bool_, np.uint8, np.int8, np.int16, np.uint32, np.int64, np.float16, np.float64]
)
def test_every_dtype_packs_like_packbits_of_its_bits(dtype):
    bits = _bits()
    packed = pack_codes(bits.astype(dtype))
    assert packed.hash_bits == 13
    assert np.array_equal(packed.bytes, np.packbits(bits, axis=1))


def test_torch_codes_and_negative_zero_pack_as_zero_one():
    bits = _bits(1)
    floats = np.where(bits, 1.0, -0.0).astype(np.float32)
    assert np.array_equal(pack_codes(floats).bytes, np.packbits(bits, axis=1))
    assert np.array_equal(pack_codes(torch.from_numpy(bits)).bytes, np.packbits(bits, axis=1))


@pytest.mark.parametrize(
    ("dtype", "value", "named"),
    [
        (np.int64, -1, "-1"),
        (np.int8, -1, "-1"),
        (np.uint8, 2, "2"),
        (np.int64, 256, "256"),  # low byte 0: a byte view alone would pass it
        (np.float32, 0.5, "0.5"),
        (np.float32, np.nan, "nan"),
        (np.float64, 2.0, "2.0"),
    ],
)
def test_a_value_other_than_zero_or_one_is_named(dtype, value, named):
    codes = _bits(2).astype(dtype)
    codes[3, 4] = value
    message = rf"codes must hold only 0 and 1, got .*{named}.*probs > 0\.5"
    with pytest.raises(ValueError, match=message):
        pack_codes(codes)


def test_a_code_dtype_that_cannot_be_bits_is_refused():
    with pytest.raises(TypeError, match="codes must be bool, integer or float 0/1 values"):
        pack_codes(np.zeros((2, 8), dtype=np.complex64))


def test_search_from_zero_one_codes_equals_search_from_packed():
    query, database = _bits(3, (4, 24)), _bits(4, (50, 24))
    from_bits = search(query.astype(np.int64), database.astype(np.float32), 10)
    packed = search(pack_codes(query), pack_codes(database), 10)
    assert np.array_equal(from_bits.positions, packed.positions)
    assert np.array_equal(from_bits.distances, packed.distances)
    brute = (query[:, None, :] != database[None, :, :]).sum(axis=2)
    assert np.array_equal(np.sort(brute, axis=1)[:, :10], packed.distances)


def test_a_multi_label_matrix_with_a_value_other_than_zero_or_one_is_named():
    from ssdh_lightning.retrieval.arrays import relevance_labels

    labels = _bits(5, (6, 70)).astype(np.int32)
    words, multi = relevance_labels(labels, "query_labels")
    assert multi
    expected = np.packbits(np.pad(labels, ((0, 0), (0, 58))), axis=1, bitorder="little")
    assert np.array_equal(words.view(np.uint8), expected)
    labels[0, 0] = 3
    with pytest.raises(ValueError, match=r"query_labels must hold only 0 and 1, got 3; "):
        relevance_labels(labels, "query_labels")


@pytest.mark.parametrize("bits", [1, 48, 64, 65, 128, 200])
@pytest.mark.parametrize("count", [0, 1, 7, 9])
def test_the_column_layout_is_every_code_word_by_word(monkeypatch, bits, count):
    """Laid out a few rows at a time (3 here), across chunk borders: word w of code j at [w, j],
    little-endian bytes of the packed code, zero padded."""
    monkeypatch.setattr(codes_module, "_LAYOUT_ROWS", 3)
    packed = np.random.default_rng(count).integers(0, 256, (count, (bits + 7) // 8), np.uint8)
    columns = PackedCodes(packed, bits).columns
    n_words = (bits + 63) // 64
    assert columns.shape == (n_words, count) and columns.dtype == np.uint64
    for j in range(count):
        padded = packed[j].tobytes().ljust(8 * n_words, b"\0")
        for w in range(n_words):
            assert columns[w, j] == int.from_bytes(padded[8 * w : 8 * w + 8], "little")


def test_codes_of_another_length_than_the_models_are_refused():
    bits = _bits(6, (3, 13))
    assert np.array_equal(pack_codes(bits, hash_bits=13).bytes, np.packbits(bits, axis=1))
    for codes in (bits, pack_codes(bits)):
        with pytest.raises(ValueError, match="codes of 13 bits where 12 were expected"):
            pack_codes(codes, hash_bits=12)
