"""Query codes as a client sends them: 0/1 lists or packed bytes in hex."""

from __future__ import annotations

import numpy as np

from ssdh_lightning.retrieval import PackedCodes


def _hex_row(row: str, position: int, hash_bits: int) -> np.ndarray:
    n_bytes = (hash_bits + 7) // 8
    expected = f"{2 * n_bytes} hex digits (the {n_bytes} bytes of a {hash_bits}-bit code)"
    try:
        data = bytes.fromhex(row)
    except ValueError:
        raise ValueError(f"codes[{position}] is not hex ({row[:40]!r}): give {expected}") from None
    if len(data) != n_bytes:
        raise ValueError(f"codes[{position}] has {2 * len(data)} hex digits; give {expected}")
    packed = np.frombuffer(data, dtype=np.uint8)
    padding = 8 * n_bytes - hash_bits
    if padding and packed[-1] & ((1 << padding) - 1):
        raise ValueError(
            f"codes[{position}] sets some of the last byte's {padding} padding bits; in "
            "numpy.packbits order they are the lowest bits and must be 0"
        )
    return packed


def _bit_row(row: list[int], position: int, hash_bits: int) -> np.ndarray:
    if len(row) != hash_bits or any(value not in (0, 1) for value in row):
        raise ValueError(
            f"codes[{position}] must be {hash_bits} values of 0 or 1 (the index holds "
            f"{hash_bits}-bit codes), got {len(row)} values"
            + ("" if len(row) != hash_bits else " that are not all 0 or 1")
        )
    return np.packbits(np.array(row, dtype=np.uint8))


def parse_codes(rows: list[list[int] | str], hash_bits: int) -> PackedCodes:
    """The packed codes of ``rows``; a ``ValueError`` naming the first row that is not a code."""
    packed = np.zeros((len(rows), (hash_bits + 7) // 8), dtype=np.uint8)
    for position, row in enumerate(rows):
        parse = _hex_row if isinstance(row, str) else _bit_row
        packed[position] = parse(row, position, hash_bits)
    return PackedCodes(packed, hash_bits)
