"""Binary codes: validation, packing (``numpy.packbits`` order), the word layout of kernels."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ssdh_lightning.retrieval.arrays import as_numpy, zero_one

_LAYOUT_ROWS = 1 << 16  # rows laid out by column at a time (1 MB of 128-bit codes)


@dataclass(frozen=True)
class PackedCodes:
    """Codes packed 8 bits a byte in ``numpy.packbits`` order; ``bytes`` is (n, ceil(bits / 8)).

    ``bytes`` may be a memory-mapped array; nothing here copies it whole.
    """

    bytes: np.ndarray
    hash_bits: int

    def __post_init__(self) -> None:
        if self.bytes.dtype != np.uint8 or self.bytes.ndim != 2:
            raise TypeError(
                f"PackedCodes.bytes must be a 2-D uint8 array, got {self.bytes.dtype} "
                f"of shape {self.bytes.shape}; build it with pack_codes(codes)"
            )
        if self.hash_bits < 1 or self.bytes.shape[1] != (self.hash_bits + 7) // 8:
            raise ValueError(
                f"PackedCodes of {self.hash_bits} bits need {(self.hash_bits + 7) // 8} bytes "
                f"a row, got {self.bytes.shape[1]}"
            )

    def __len__(self) -> int:
        return self.bytes.shape[0]

    def __getitem__(self, rows: slice | np.ndarray) -> PackedCodes:
        return PackedCodes(np.atleast_2d(self.bytes[rows]), self.hash_bits)

    def words(self) -> np.ndarray:
        """(n, words) uint64, zero padded: how the kernels read queries."""
        n_words = (self.bytes.shape[1] + 7) // 8
        padded = np.zeros((len(self), n_words * 8), dtype=np.uint8)
        padded[:, : self.bytes.shape[1]] = self.bytes
        return padded.view(np.uint64)

    @cached_property
    def columns(self) -> np.ndarray:
        """(words, n) uint64: how the kernels read a database, made once per PackedCodes, so
        searching the same database again (an index) does not lay it out again. Filled a chunk
        of rows at a time: building it holds little more than itself (1.6 GB at 100M x 128
        bits, where padding and transposing the whole codes held twice that)."""
        n_words = (self.bytes.shape[1] + 7) // 8
        columns = np.empty((n_words, len(self)), dtype=np.uint64)
        for start in range(0, len(self), _LAYOUT_ROWS):
            rows = slice(start, start + _LAYOUT_ROWS)
            columns[:, rows] = self[rows].words().T
        return columns


def pack_codes(codes, hash_bits: int | None = None) -> PackedCodes:
    """Pack 0/1 codes of shape (n, hash_bits) (bool, any integer or float dtype, numpy or torch).

    ``PackedCodes`` are returned unchanged, so every function can take either form. A caller
    that knows ``hash_bits`` (the model's) passes it, and codes of another length are refused.
    """
    if isinstance(codes, PackedCodes):
        _check_bits(codes.hash_bits, hash_bits)
        return codes
    array = as_numpy(codes, "codes")
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(
            f"codes must have shape (n, hash_bits), got {array.shape}; "
            "a single code needs a leading axis: codes[None]"
        )
    _check_bits(array.shape[1], hash_bits)
    bits = zero_one(
        array,
        "codes",
        "threshold the latent probabilities first (codes = probs > 0.5), "
        "or pass PackedCodes for packed bytes",
    )
    return PackedCodes(np.packbits(bits, axis=1), array.shape[1])


def _check_bits(found: int, hash_bits: int | None) -> None:
    if hash_bits is not None and found != hash_bits:
        raise ValueError(
            f"codes of {found} bits where {hash_bits} were expected; codes and model must have "
            "the same hash_bits"
        )


def unpack_codes(codes: PackedCodes) -> np.ndarray:
    """The (n, hash_bits) boolean codes of packed codes."""
    return np.unpackbits(np.asarray(codes.bytes), axis=1, count=codes.hash_bits).astype(bool)


def check_pair(query: PackedCodes, database: PackedCodes) -> None:
    if query.hash_bits != database.hash_bits:
        raise ValueError(
            f"query codes have {query.hash_bits} bits but database codes have "
            f"{database.hash_bits}; both must come from a model of the same hash_bits"
        )
    if len(database) == 0:
        raise ValueError("the database is empty: there is nothing to rank")
