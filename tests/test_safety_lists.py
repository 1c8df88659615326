"""List files from elsewhere: a byte-order mark, a path with a space, a name too long for the
file system, a line of 100 MB, a byte that is not UTF-8. Each is named with the list file and
its line, never with a raw OSError nor a token printed whole."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import pytest

from ssdh_lightning.data.list_files import MAX_LINE_BYTES, ListFileError, read_list
from ssdh_lightning.indexing.files import list_images

MIB = 2**20


@pytest.fixture
def root(tmp_path) -> Path:
    """An image root with two (tiny) image files; read_list only checks that they exist."""
    (tmp_path / "images").mkdir()
    for name in ("a.png", "b.png"):
        (tmp_path / "images" / name).write_bytes(b"png")
    return tmp_path


def problems(list_file: Path, root: Path) -> str:
    with pytest.raises(ListFileError) as error:
        read_list(list_file, root, allow_empty=False)
    return str(error.value)


def test_a_byte_order_mark_is_dropped(root):
    list_file = root / "train.txt"
    list_file.write_bytes(b"\xef\xbb\xbfimages/a.png 1 0\nimages/b.png 0 1\n")
    images = read_list(list_file, root, allow_empty=False)
    assert images.paths == [root / "images/a.png", root / "images/b.png"]
    assert images.labels.tolist() == [[1, 0], [0, 1]]
    indexed = list_images(root, list_file)  # ssdh-index list_file= reads it the same way
    assert indexed.paths.tolist() == ["images/a.png", "images/b.png"]


def test_a_path_with_a_space_is_named_as_such_and_bad_labels_as_bad_labels(root):
    (root / "images" / "my dog.png").write_bytes(b"png")
    list_file = root / "train.txt"
    list_file.write_text("images/a.png 1 0\nimages/my dog.png 0 1\nimages/b.png 2 1\n")
    message = problems(list_file, root)
    assert (
        f"{list_file}:2: the path 'images/my dog.png' holds a space, which a list file's paths "
        "cannot hold (a space separates the path from its labels); rename the file"
    ) in message
    assert f"{list_file}:3: labels must be 0 or 1, got '2 1'" in message


def test_a_name_too_long_for_the_file_system_is_named_shortened(root):
    long_name = "x" * 296 + ".png"
    list_file = root / "train.txt"
    list_file.write_text(f"images/a.png 1 0\nimages/{long_name} 0 1\n")
    message = problems(list_file, root)
    shown = repr(f"images/{long_name}"[:60])
    assert (
        f"{list_file}:2: the image path {shown}... (307 characters) cannot be looked up "
        "(File name too long)"
    ) in message
    assert long_name not in message


def test_a_line_of_100_mb_is_refused_unread_and_the_next_line_is_read(root):
    list_file = root / "train.txt"
    with open(list_file, "wb") as stream:
        stream.write(b"images/a.png 1 0\n" + b"y" * 1000)
        stream.seek(100 * MIB)  # a sparse file: 100 MB of line, none of it on disk
        stream.write(b" 0 1\nimages/b.png 0 1\nimages/nowhere.png 1 0\n")
    tracemalloc.start()
    message = problems(list_file, root)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 * MIB  # a chunk of the long line at a time, never the line
    assert f"{list_file}:2: the line is longer than {MAX_LINE_BYTES} bytes" in message
    assert f"{list_file}:4: no image file {root / 'images/nowhere.png'}" in message
    assert f"{list_file}:3" not in message  # read, and fine
    assert len(message) < 2000


def test_a_byte_that_is_not_utf8_is_named_with_its_file_and_line(root):
    list_file = root / "train.txt"
    list_file.write_bytes(b"images/a.png 1 0\nimages/caf\xe9.png 0 1\n")
    message = problems(list_file, root)
    assert f"{list_file}:2: byte 0xe9 at column 11 is not UTF-8; save the list file" in message


def test_a_list_file_that_cannot_be_opened_is_named(root):
    (root / "folder.txt").mkdir()
    with pytest.raises(ListFileError, match=re.escape(f"list file {root / 'folder.txt'} cannot")):
        read_list(root / "folder.txt", root, allow_empty=False)
