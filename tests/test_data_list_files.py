"""data=list: the field's list files (path, then a 0/1 label vector), written by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import call_tool
from ssdh_lightning.data import ListFileDataModule
from ssdh_lightning.data.list_files import ListFileError
from ssdh_lightning.images.skipped import SKIPPED_FILES
from ssdh_lightning.testing.formats import class_patterns, encode_image

CLASSES = 3
COUNTS = {"train.txt": 12, "test.txt": 6, "database.txt": 15}


def one_hot(label: int, width: int = CLASSES) -> str:
    return " ".join("1" if c == label else "0" for c in range(width))


def write_lists(root: Path) -> dict[str, list[int]]:
    """PNG images under root/images/ and the three lists naming them; each list's labels."""
    (root / "images").mkdir(parents=True)
    written = {}
    for name, count in COUNTS.items():
        labels = np.arange(count) % CLASSES
        images = class_patterns(CLASSES, labels, (12, 12, 3), seed=0)
        lines = []
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            path = f"images/{Path(name).stem}_{i}.png"
            (root / path).write_bytes(encode_image(image, ".png"))
            lines.append(f"{path} {one_hot(label)}\n")
        (root / name).write_text("".join(lines))
        written[name] = labels.tolist()
    return written


def list_module(root: Path, **options) -> ListFileDataModule:
    settings = {"image_size": (8, 8), "resize": (10, 10), "batch_size": 4, "seed": 0}
    module = ListFileDataModule(root=root, **{**settings, **options})
    module.setup()
    return module


def test_the_three_lists_give_training_set_queries_and_database_with_their_labels(tmp_path):
    written = write_lists(tmp_path)
    module = list_module(tmp_path)
    splits = module.files
    assert module.class_names == ["0", "1", "2"]
    for dataset, name in ((splits.train, "train.txt"), (splits.query, "test.txt")):
        assert dataset.labels.tolist() == written[name]
        first = dataset.path_of(int(dataset.positions[0]))
        assert first == tmp_path / f"images/{Path(name).stem}_0.png"
    assert len(splits.database) == COUNTS["database.txt"]
    image, label, position = splits.query[4]
    # resized; the centre crop follows on the device
    assert tuple(image.shape) == (3, 10, 10) and label == written["test.txt"][4] and position == 4


def test_lists_with_absolute_paths_and_elsewhere_are_read(tmp_path):
    root = tmp_path / "root"
    write_lists(root)
    lists = tmp_path / "lists"
    lists.mkdir()
    for name in COUNTS:
        lines = (root / name).read_text().splitlines()
        (lists / name).write_text("".join(f"{root / line}\n" for line in lines))
    module = list_module(
        tmp_path / "elsewhere",
        train_list=str(lists / "train.txt"),
        test_list=str(lists / "test.txt"),
        database_list=str(lists / "database.txt"),
    )
    assert len(module.files.train) == COUNTS["train.txt"]


def test_missing_lists_are_named(tmp_path):
    write_lists(tmp_path)
    (tmp_path / "test.txt").unlink()
    (tmp_path / "database.txt").unlink()
    with pytest.raises(FileNotFoundError) as error:
        list_module(tmp_path)
    message = str(error.value)
    assert "2 list file(s) missing" in message
    assert f"data.test_list: {tmp_path / 'test.txt'}" in message
    assert f"data.database_list: {tmp_path / 'database.txt'}" in message
    assert "train.txt" not in message


def test_bad_lines_are_refused_with_file_and_line_number(tmp_path):
    write_lists(tmp_path)
    lines = (tmp_path / "train.txt").read_text().splitlines(keepends=True)
    lines[1] = "images/train_1.png 0 1\n"  # two labels, not three
    lines[3] = "images/nowhere.png 1 0 0\n"
    lines[4] = "images/train_4.png 0 0 0\n"  # empty label vector
    lines[6] = "images/train_6.png 0 2 0\n"
    lines[7] = "images/train_7.png\n"
    lines[8] = "\n"  # blank lines are left out, not refused
    (tmp_path / "train.txt").write_text("".join(lines))
    with pytest.raises(ListFileError) as error:
        list_module(tmp_path)
    message = str(error.value)
    train = tmp_path / "train.txt"
    assert f"5 line(s) of {train} cannot be used" in message
    assert f"{train}:2: 2 labels, but the first line has 3" in message
    assert f"{train}:4: no image file {tmp_path / 'images/nowhere.png'}" in message
    assert f"{train}:5: empty label vector" in message
    assert f"{train}:7: labels must be 0 or 1, got '0 2 0'" in message
    assert f"{train}:8: 'images/train_7.png' is followed by no label vector" in message
    assert f"{train}:9" not in message


def test_empty_label_vectors_are_kept_when_allowed(tmp_path):
    write_lists(tmp_path)
    lines = (tmp_path / "database.txt").read_text().splitlines(keepends=True)
    lines[2] = "images/database_2.png 0 0 0\n"
    (tmp_path / "database.txt").write_text("".join(lines))
    with pytest.raises(ListFileError, match=r"database\.txt:3: empty label vector"):
        list_module(tmp_path)
    assert len(list_module(tmp_path, allow_empty_labels=True).splits.database) == 15


def test_lists_of_different_widths_are_refused(tmp_path):
    write_lists(tmp_path)
    (tmp_path / "test.txt").write_text("images/test_0.png 1 0 0 0\n")
    with pytest.raises(ListFileError, match="different numbers of classes"):
        list_module(tmp_path)


def multi_hot(index: int) -> np.ndarray:
    """Item ``index``'s classes: ``index % 3``, and the next one for even items."""
    vector = np.zeros(CLASSES, dtype=np.uint8)
    vector[index % CLASSES] = 1
    if index % 2 == 0:
        vector[(index + 1) % CLASSES] = 1
    return vector


def write_multi_hot_lists(root: Path) -> dict[str, np.ndarray]:
    """The images of ``write_lists`` under multi-hot vectors; each list's (N, 3) vectors."""
    write_lists(root)
    written = {}
    for name, count in COUNTS.items():
        vectors = np.stack([multi_hot(i) for i in range(count)])
        lines = [
            f"images/{Path(name).stem}_{i}.png {' '.join(map(str, vector))}\n"
            for i, vector in enumerate(vectors)
        ]
        (root / name).write_text("".join(lines))
        written[name] = vectors
    return written


@pytest.mark.parametrize("decoded_cache_mib", [2048, 0], ids=["in memory", "workers"])
def test_multi_hot_lists_give_multi_hot_labels_to_every_split_and_batch(
    tmp_path, decoded_cache_mib
):
    written = write_multi_hot_lists(tmp_path)
    module = list_module(tmp_path, decoded_cache_mib=decoded_cache_mib)
    splits = module.splits
    for dataset, name in ((splits.train, "train.txt"), (splits.query, "test.txt")):
        assert dataset.labels.dtype == torch.uint8
        assert dataset.labels.tolist() == written[name].tolist()
    batches = [module.on_after_batch_transfer(b, 1) for b in module.val_dataloader()[1]]
    labels = torch.cat([batch.labels for batch in batches])
    assert labels.dtype == torch.uint8 and labels.tolist() == written["database.txt"].tolist()
    assert all(batch.images.shape[1:] == (3, 8, 8) for batch in batches)


def test_a_multi_hot_list_with_an_empty_vector_is_refused_by_line(tmp_path):
    write_multi_hot_lists(tmp_path)
    lines = (tmp_path / "test.txt").read_text().splitlines(keepends=True)
    lines[4] = "images/test_4.png 0 0 0\n"
    (tmp_path / "test.txt").write_text("".join(lines))
    with pytest.raises(ListFileError, match=r"test\.txt:5: empty label vector"):
        list_module(tmp_path)
    labels = list_module(tmp_path, allow_empty_labels=True).splits.query.labels
    assert labels[4].tolist() == [0, 0, 0] and labels.shape == (COUNTS["test.txt"], CLASSES)


def test_ssdh_train_on_lists_skips_and_lists_an_unreadable_image(tmp_path):
    root = tmp_path / "data"
    write_lists(root)
    broken = root / "images" / "database_3.png"
    broken.write_bytes(broken.read_bytes()[:20])
    run_dir = tmp_path / "run"
    call_tool(
        "ssdh-train",
        "data=list",
        f"data.root={root}",
        "data.image_size=[8,8]",
        "data.resize=[10,10]",
        "data.num_workers=0",
        "data.batch_size=4",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "retrieval.map_at=[5,all]",
        "objective=bcs/map@5",
        "baselines=[]",
        run_dir=run_dir,
    )
    assert str(broken) in (run_dir / SKIPPED_FILES).read_text()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"bcs/map@5", "es/map@all", "hds/map@5"} <= set(metrics)
    assert json.loads((run_dir / "run.json").read_text())["data"] == "list"


def test_ssdh_train_on_multi_hot_lists_scores_the_multi_label_measures(tmp_path):
    root = tmp_path / "data"
    write_multi_hot_lists(root)
    run_dir = tmp_path / "run"
    call_tool(
        "ssdh-train",
        "data=list",
        f"data.root={root}",
        "data.image_size=[8,8]",
        "data.num_workers=0",
        "data.batch_size=4",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        "retrieval.map_at=[5,all]",
        "retrieval.precision_at=[5]",
        "objective=bcs/map@5",
        "baselines=[]",
        run_dir=run_dir,
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for mode in ("bcs", "es", "hds"):
        for key in ("map@5", "ndcg@5", "acg@5", "wap@5"):
            assert 0 <= metrics[f"{mode}/{key}"] <= CLASSES, f"{mode}/{key}"
    assert 0 < metrics["bcs/ndcg@5"] <= 1 and 0 < metrics["bcs/map@all"] <= 1
