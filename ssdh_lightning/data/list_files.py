"""Image lists as the field publishes them (HashNet, DeepHash-pytorch): one line per image, its
path relative to an image root (or absolute), then its label vector, ``0``/``1`` per class:
one-hot for single-label sets (the data module yields class ids), multi-hot otherwise (it yields
the vectors, uint8 (B, classes), when any image of the three lists has other than one class).

``train_list`` gives the training set, ``test_list`` the queries, ``database_list`` the database
(PROTOCOL.md, list-file protocols). Every line is checked before training: a line with a label
count other than the first line's, a value other than 0 or 1, an image file that does not exist,
or an empty label vector (unless ``allow_empty_labels``) is refused with its file and line
number, as are a path with a space (the format cannot hold one), a line that is not UTF-8 and a
line of more than a MiB. A UTF-8 byte-order mark at the start is dropped. Files that exist but
cannot be decoded are skipped and listed as for folders.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ssdh_lightning.data.base import Splits
from ssdh_lightning.data.image_file_module import ImageFileDataModule

SHOWN_PROBLEMS = 10  # bad lines named in one message; the count says how many more
SHOWN_CHARS = 60  # characters of a token that a message shows
MAX_LINE_BYTES = 2**20  # a path and its labels; a longer line is refused, never read whole
BYTE_ORDER_MARK = b"\xef\xbb\xbf"  # what some editors put first in a UTF-8 file
LABEL_VALUES = ("0", "1")


class ListFileError(ValueError):
    """A list file, or lines of it, that cannot be used."""


@dataclass
class ImageList:
    """The images of one list file and their label vectors, uint8 (N, n_classes)."""

    paths: list[Path]
    labels: np.ndarray


def _shown(token: str) -> str:
    """``repr(token)``, cut to ``SHOWN_CHARS`` characters with its length."""
    if len(token) <= SHOWN_CHARS:
        return repr(token)
    return f"{token[:SHOWN_CHARS]!r}... ({len(token)} characters)"


def _is_integer(token: str) -> bool:
    return token.lstrip("+-").isdigit()


def _parse_line(line: str, root: Path, allow_empty: bool) -> tuple[Path, np.ndarray]:
    """One line's image path and label vector; ``ValueError`` saying what is wrong."""
    path, *values = line.split()
    first_label = next((i for i, v in enumerate(values) if v in LABEL_VALUES), len(values))
    before_labels = values[:first_label]
    if first_label < len(values) and not all(map(_is_integer, before_labels)):
        spaced = " ".join([path, *before_labels])
        raise ValueError(
            f"the path {_shown(spaced)} holds a space, which a list file's paths cannot hold "
            "(a space separates the path from its labels); rename the file without spaces"
        )
    if not values:
        raise ValueError(f"{_shown(path)} is followed by no label vector")
    if any(value not in LABEL_VALUES for value in values):
        raise ValueError(f"labels must be 0 or 1, got {_shown(' '.join(values))}")
    labels = np.array([value == "1" for value in values], dtype=np.uint8)
    if not allow_empty and not labels.any():
        raise ValueError(
            "empty label vector (all 0); set data.allow_empty_labels=true to keep such images"
        )
    image = root / path  # an absolute path stays as it is
    try:
        found = image.is_file()
    except (OSError, ValueError) as error:  # a name too long for the file system, a NUL
        reason = getattr(error, "strerror", None) or str(error)
        raise ValueError(f"the image path {_shown(path)} cannot be looked up ({reason})") from None
    if not found:  # a path the file system could look up: at most PATH_MAX long
        raise ValueError(f"no image file {image}")
    return image, labels


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """(number, bytes) of each line of ``stream``; None for a line of more than
    ``MAX_LINE_BYTES``, whose rest is skipped a chunk at a time, never held whole."""
    number = 0
    while line := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield number, line
            continue
        while line and not line.endswith(b"\n"):
            line = stream.readline(MAX_LINE_BYTES)
        yield number, None


def _decoded(line: bytes | None, number: int) -> str:
    """A line's text: UTF-8, without the byte-order mark that may start the file."""
    if line is None:
        raise ValueError(
            f"the line is longer than {MAX_LINE_BYTES} bytes (a line is an image path, then "
            "one 0 or 1 per class); it was not read"
        )
    if number == 1 and line.startswith(BYTE_ORDER_MARK):
        line = line[len(BYTE_ORDER_MARK) :]
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"byte 0x{line[error.start]:02x} at column {error.start + 1} is not UTF-8; save the "
            "list file as UTF-8"
        ) from None


def read_list(list_file: Path, root: Path, allow_empty: bool) -> ImageList:
    """The images of ``list_file``; every bad line is named, with the file and its number, in
    one error. The file is read as UTF-8, a byte-order mark first is dropped."""
    paths: list[Path] = []
    rows: list[np.ndarray] = []
    problems: list[str] = []
    try:
        with open(list_file, "rb") as stream:
            for number, line in _lines(stream):
                try:
                    text = _decoded(line, number)
                    if not text.strip():
                        continue
                    path, labels = _parse_line(text, root, allow_empty)
                    if rows and len(labels) != len(rows[0]):
                        first = len(rows[0])
                        raise ValueError(f"{len(labels)} labels, but the first line has {first}")
                except ValueError as error:
                    problems.append(f"  {list_file}:{number}: {error}")
                    continue
                paths.append(path)
                rows.append(labels)
    except OSError as error:
        raise ListFileError(f"list file {list_file} cannot be read ({error.strerror})") from None
    if problems:
        more = len(problems) - SHOWN_PROBLEMS
        shown = "\n".join(problems[:SHOWN_PROBLEMS]) + (f"\n  ... {more} more" if more > 0 else "")
        raise ListFileError(
            f"{len(problems)} line(s) of {list_file} cannot be used (a line is an image path "
            f"relative to data.root={root}, then one 0 or 1 per class):\n{shown}"
        )
    if not rows:
        raise ListFileError(f"{list_file} lists no image; each line is a path, then its labels")
    return ImageList(paths, np.stack(rows))


def is_one_hot(lists: list[ImageList]) -> bool:
    """Whether every image of ``lists`` has exactly one class: a single-label data set."""
    return all((images.labels.sum(axis=1) == 1).all() for images in lists)


def list_class_names(count: int) -> list[str]:
    """A list file's classes are its label columns, named by their numbers."""
    return [str(column) for column in range(count)]


def training_labels(images: ImageList, one_hot: bool) -> np.ndarray:
    """Class ids (N,) int64 of a single-label set, or its multi-hot rows (N, classes) uint8."""
    return images.labels.argmax(axis=1).astype(np.int64) if one_hot else images.labels


class ListFileDataModule(ImageFileDataModule):
    """Three list files under ``root``; see the module's docstring for their format."""

    name = "list"

    def __init__(
        self,
        root: str | Path = "data",
        train_list: str = "train.txt",
        test_list: str = "test.txt",
        database_list: str = "database.txt",
        allow_empty_labels: bool = False,
        **options,
    ) -> None:
        super().__init__(**options)
        self.root = Path(root)
        self.lists = {
            "train_list": self.root / train_list,
            "test_list": self.root / test_list,
            "database_list": self.root / database_list,
        }
        self.allow_empty_labels = allow_empty_labels

    def _check_lists_exist(self) -> None:
        lists = self.lists.items()
        missing = [f"  data.{key}: {path}" for key, path in lists if not path.is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} list file(s) missing:\n" + "\n".join(missing) + "\nPut them "
                f"there, or point data.root (now {self.root}) and data.train_list, "
                "data.test_list, data.database_list at them (relative to data.root or absolute)"
            )

    def load_splits(self) -> Splits:
        self._check_lists_exist()
        lists = {
            key: read_list(path, self.root, self.allow_empty_labels)
            for key, path in self.lists.items()
        }
        widths = {key: images.labels.shape[1] for key, images in lists.items()}
        if len(set(widths.values())) > 1:
            raise ListFileError(
                "the list files give different numbers of classes: "
                + ", ".join(f"{self.lists[key]} {width}" for key, width in widths.items())
            )

        # One kind of label for the three lists: the engine ranks queries and database alike.
        one_hot = is_one_hot(list(lists.values()))

        def files(key: str):
            images = lists[key]
            positions = np.arange(len(images.paths))
            labels = training_labels(images, one_hot)
            return self.image_files(images.paths.__getitem__, positions, labels)

        return Splits(
            train=files("train_list"),
            query=files("test_list"),
            database=files("database_list"),
            class_names=list_class_names(widths["train_list"]),
            preprocessing=self._preprocessing,
        )
