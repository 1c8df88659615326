"""Many strings as one byte buffer and offsets: two numpy arrays, saved and memory-mapped as they
are, so that a million file names load without parsing and loader workers share them without
copying. Plain numpy: the retrieval engine's index uses it as well as the data modules."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PackedStrings:
    """String ``i`` is ``buffer[offsets[i]:offsets[i + 1]]``, file-system encoded."""

    buffer: np.ndarray  # uint8
    offsets: np.ndarray  # int64, len(strings) + 1

    @classmethod
    def pack(cls, strings: list[str]) -> PackedStrings:
        encoded = [os.fsencode(s) for s in strings]
        lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> str:
        return os.fsdecode(self.buffer[self.offsets[index] : self.offsets[index + 1]].tobytes())

    def tolist(self) -> list[str]:
        """Every string, decoded in one pass over the buffer (fast for millions)."""
        data = bytes(self.buffer)
        bounds = self.offsets.tolist()
        return [os.fsdecode(data[a:b]) for a, b in itertools.pairwise(bounds)]
