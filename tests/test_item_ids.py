"""Item ids across generations (``retrieval.index``): an unchanged file keeps its id, a new or
changed one gets a new id, a removed or changed file's id is never given again; checked against
the rule written out here, over real ``ssdh-index`` builds of digit PNGs."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import build, write_digits, write_random_index
from ssdh_lightning.io import read_json, write_json
from ssdh_lightning.retrieval import Index, IndexWriter
from ssdh_lightning.strings import PackedStrings


def expected_ids(before: Index, after: Index) -> list[int]:
    """The rule: a file with the path, size and mtime it had keeps its id; every other file
    gets the next unused id, in the new generation's order."""
    old = {
        (path, int(size), int(mtime)): int(item_id)
        for path, size, mtime, item_id in zip(
            before.paths.tolist(), before.file_sizes, before.file_mtimes_ns, before.ids, strict=True
        )
    }
    next_id, ids = before.next_id, []
    for path, size, mtime in zip(
        after.paths.tolist(), after.file_sizes, after.file_mtimes_ns, strict=True
    ):
        key = (path, int(size), int(mtime))
        if key in old:
            ids.append(old[key])
        else:
            ids.append(next_id)
            next_id += 1
    return ids


def test_a_rebuild_keeps_the_ids_of_unchanged_files(trained_run, tmp_path):
    checkpoint = trained_run / "checkpoints" / "last.ckpt"
    images, out = tmp_path / "images", tmp_path / "digits.index"
    paths = write_digits(images, range(20))
    first = build(checkpoint, images, out)
    assert first.ids.tolist() == list(range(20)) and first.next_id == 20
    removed, changed = paths[4], paths[11]
    removed_id = first.ids[first.paths.tolist().index(removed.relative_to(images).as_posix())]
    removed.unlink()
    changed.write_bytes(paths[0].read_bytes() + b"\0")  # new content, size and mtime
    write_digits(images, range(20, 23))
    second = build(checkpoint, images, out)
    assert second.ids.tolist() == expected_ids(first, second)
    assert second.next_id == 20 + 1 + 3  # the changed file and three new ones
    assert second.position_of(int(removed_id)) is None
    changed_path = changed.relative_to(images).as_posix()
    old_changed_id = int(first.ids[first.paths.tolist().index(changed_path)])
    assert second.position_of(old_changed_id) is None  # its old id names nothing now
    for row in (0, 5, len(second) - 1):
        assert second.position_of(int(second.ids[row])) == row
    # a third build with nothing changed keeps every id
    third = build(checkpoint, images, out)
    assert third.ids.tolist() == second.ids.tolist() and third.next_id == second.next_id


def test_position_of_finds_every_id_and_nothing_else(tmp_path):
    index = write_random_index(tmp_path / "index", 30)
    with IndexWriter(index.folder, 3, index.hash_bits, index.feature_dim) as writer:
        kept = np.array([2, 7, 29])
        next_index = writer.commit(
            ids=np.concatenate([index.ids[kept[:2]], [writer.next_id]]),
            labels=index.labels[kept],
            paths=PackedStrings.pack([index.paths[row] for row in kept]),
            file_sizes=index.file_sizes[kept],
            file_mtimes_ns=index.file_mtimes_ns[kept],
            metadata={"class_names": index.class_names},
        )
    assert next_index.ids.tolist() == [2, 7, 30] and next_index.next_id == 31
    found = {item_id: next_index.position_of(item_id) for item_id in range(-1, 33)}
    assert {item_id: row for item_id, row in found.items() if row is not None} == {
        2: 0,
        7: 1,
        30: 2,
    }


def test_ids_that_do_not_ascend_are_refused(tmp_path):
    index = write_random_index(tmp_path / "index", 4)
    writer = IndexWriter(index.folder, 2, index.hash_bits, index.feature_dim)
    with writer, pytest.raises(ValueError, match="ids must ascend strictly"):
        writer.commit(
            ids=np.array([3, 1]),
            labels=index.labels[:2],
            paths=PackedStrings.pack(index.paths.tolist()[:2]),
            file_sizes=index.file_sizes[:2],
            file_mtimes_ns=index.file_mtimes_ns[:2],
            metadata={},
        )
    manifest = read_json(index.folder / "manifest.json")
    manifest["next_id"] = 2  # below the ids the index holds
    write_json(index.folder / "manifest.json", manifest)
    with pytest.raises(ValueError, match="item ids are not ascending integers from 0 to below"):
        Index.load(index.folder)


def test_a_format_1_index_reads_with_rows_as_ids_and_grows_from_there(tmp_path):
    index = write_random_index(tmp_path / "index", 5)
    manifest = read_json(index.folder / "manifest.json")
    (index.folder / manifest["arrays"].pop("ids")["file"]).unlink()
    del manifest["next_id"]
    write_json(index.folder / "manifest.json", {**manifest, "format_version": 1})
    old = Index.load(index.folder)
    assert old.ids.tolist() == list(range(5)) and old.next_id == 5
    grown = write_random_index(tmp_path / "index", 2)  # every item new
    assert grown.ids.tolist() == [5, 6] and grown.next_id == 7
