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


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on or cannot show escaped as ``repr``
    does (newline as ``\\n``, ESC as ``\\x1b``, other C0/C1 controls, DEL, the surrogates that
    stand for undecodable bytes, format characters), so that a file name cannot forge a line or
    colour the terminal. Spaces and other printable characters stay as they are."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


_SLASH, _DOT = ord("/"), ord(".")


def first_unsafe_path(paths: PackedStrings) -> tuple[int, str] | None:
    """The first row of ``paths`` that is not a relative path that stays inside its root, with
    the reason, or None when every one is: empty, holding a NUL byte, absolute, or with a
    ``..`` component. Checked on the bytes at once, so a million paths cost milliseconds."""
    buffer, offsets = np.asarray(paths.buffer), np.asarray(paths.offsets)
    lengths = np.diff(offsets)
    starts = offsets[:-1]
    # Each rule marks the byte positions (or rows) where it is broken; the first row wins.
    bad_rows = {"it is empty": np.flatnonzero(lengths == 0)}
    nonempty = starts[lengths > 0]
    bad_rows["it is absolute"] = _rows(offsets, nonempty[buffer[nonempty] == _SLASH])
    bad_rows["it holds a NUL byte"] = _rows(offsets, np.flatnonzero(buffer == 0))
    bad_rows["it has a '..' component"] = _rows(offsets, _parent_components(buffer, offsets))
    found = [(int(rows[0]), reason) for reason, rows in bad_rows.items() if rows.size]
    return min(found) if found else None


def _rows(offsets: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The rows that hold byte ``positions``, ascending."""
    return np.searchsorted(offsets, positions, side="right") - 1


def _parent_components(buffer: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Positions of every ``..`` that is a whole path component (between slashes or string
    bounds) of one string."""
    dots = np.flatnonzero((buffer[:-1] == _DOT) & (buffer[1:] == _DOT))
    if dots.size == 0:
        return dots
    is_start = np.zeros(buffer.size + 1, dtype=bool)
    is_start[offsets] = True  # also marks the end of each string: the start of the next
    padded = np.concatenate([buffer, [_SLASH]]).astype(np.uint8)
    one_string = ~is_start[dots + 1]
    opens = is_start[dots] | (padded[dots - 1] == _SLASH)
    closes = is_start[dots + 2] | (padded[dots + 2] == _SLASH)
    return dots[one_string & opens & closes]
