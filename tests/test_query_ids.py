"""Query ids: each query's index in its data set as published, whatever the split or its order,
so that two runs of one data set and protocol pair their per-query figures query by query.

Every image here carries its own id in its pixels (a constant colour survives resizing), and
each data module's real reader loads the real files; the ids the module gives for the queries
an evaluation sees are checked against the ids the images carry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from ssdh_lightning.data import (
    CIFAR10DataModule,
    DigitsDataModule,
    ImageFolderDataModule,
    ListFileDataModule,
    MNISTDataModule,
)
from ssdh_lightning.data.base import Batch
from ssdh_lightning.data.splits import stratified_split
from ssdh_lightning.testing.formats import encode_image, write_cifar10, write_list_file, write_mnist

CLASSES = 10


def id_images(ids: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """uint8 images of ``shape`` (H, W) or (H, W, 3), each a constant colour that spells its id:
    grey id % 256 for (H, W); red id % 256 and green id // 256 for colour images."""
    ids = np.asarray(ids)
    images = np.zeros((len(ids), *shape), dtype=np.uint8)
    if len(shape) == 2:
        images[:] = (ids % 256)[:, None, None]
    else:
        images[..., 0] = (ids % 256)[:, None, None]
        images[..., 1] = (ids // 256)[:, None, None]
    return images


def pixel_ids(images: torch.Tensor) -> np.ndarray:
    """The ids the images (N, C, H, W) spell (``id_images``)."""
    first = images[:, :, 0, 0].numpy().astype(np.int64)
    return first[:, 0] if first.shape[1] == 1 else first[:, 0] + 256 * first[:, 1]


def evaluated_queries(module) -> tuple[np.ndarray, np.ndarray]:
    """(ids, images' own ids) of the queries as the query loader serves them to an evaluation:
    the module's ids of the batches' positions, and what the images spell."""
    ids, spelled = [], []
    for batch in module.val_dataloader()[0]:
        if not isinstance(batch, Batch):  # decoded by the workers: (images, labels, positions, _)
            batch = Batch(*batch[:3])
        ids.append(module.query_ids(batch.positions.numpy()))
        spelled.append(pixel_ids(batch.images))
    return np.concatenate(ids), np.concatenate(spelled)


def test_digits_queries_are_named_by_their_index_in_scikit_learns_set():
    digits = load_digits()
    for seed in (0, 1):
        module = DigitsDataModule(seed=seed)
        module.setup()
        positions = np.arange(len(module.splits.query))
        ids = module.query_ids(positions)
        query, _ = stratified_split(digits.target, 0.2, seed)
        assert ids.tolist() == query.tolist()
        images = torch.from_numpy(np.round(digits.images[ids] * 255 / 16).astype(np.uint8))
        assert torch.equal(module.splits.query.images[:, 0], images)


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    """600 training and 5 test images a class, ids 0.. then 6000..; the pool's order."""
    root = tmp_path_factory.mktemp("cifar")
    train_labels = np.repeat(np.arange(CLASSES), 600)
    test_labels = np.repeat(np.arange(CLASSES), 5)
    n_train = len(train_labels)
    train = id_images(np.arange(n_train), (32, 32, 3))
    test = id_images(n_train + np.arange(len(test_labels)), (32, 32, 3))
    write_cifar10(root, train, train_labels, test, test_labels, [f"c{i}" for i in range(CLASSES)])
    return root


def test_cifar_queries_are_named_by_their_index_in_the_pool_under_both_protocols(cifar_root):
    paper = CIFAR10DataModule(root=cifar_root, download=False, verify_checksums=False)
    paper.setup()
    ids, spelled = evaluated_queries(paper)
    assert ids.tolist() == spelled.tolist() == list(range(6000, 6050))
    for seed in (0, 1):
        cnnh = CIFAR10DataModule(
            root=cifar_root, download=False, verify_checksums=False, protocol="cnnh", seed=seed
        )
        cnnh.setup()
        ids, spelled = evaluated_queries(cnnh)
        assert ids.tolist() == spelled.tolist()
        assert len(ids) == 100 * CLASSES and len(set(ids.tolist())) == len(ids)


def test_mnist_test_images_are_named_after_the_training_images(tmp_path):
    train_labels = np.repeat(np.arange(CLASSES), 3)
    test_labels = np.repeat(np.arange(CLASSES), 2)
    write_mnist(
        tmp_path,
        id_images(np.arange(30), (28, 28)),
        train_labels,
        id_images(30 + np.arange(20), (28, 28)),
        test_labels,
    )
    module = MNISTDataModule(root=tmp_path, download=False)
    module.setup()
    ids, spelled = evaluated_queries(module)
    assert ids.tolist() == spelled.tolist() == list(range(30, 50))


def write_folder(root, ids, labels):
    for image_id, label, image in zip(ids, labels, id_images(ids, (12, 12, 3)), strict=True):
        path = root / f"class_{label}" / f"{image_id:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_image(image, ".png"))


def folder_module(root, decoded_cache_mib) -> ImageFolderDataModule:
    module = ImageFolderDataModule(
        root=root,
        image_size=(8, 8),
        query_fraction=0.25,
        decoded_cache_mib=decoded_cache_mib,
        manifest_cache=None,
        eval_batch_size=4,
    )
    module.setup()
    return module


@pytest.mark.parametrize("decoded_cache_mib", [2048, 0], ids=["decoded-once", "decoded-by-workers"])
def test_folder_queries_are_named_by_their_file_in_the_scan(tmp_path, decoded_cache_mib):
    """The id is the file's index in the folder scan (sorted paths), the same whether the images
    are decoded into memory or by the workers, with a query file that cannot be read."""
    root = tmp_path / "images"
    write_folder(root, np.arange(60), np.arange(60) % 3)
    queries = folder_module(root, decoded_cache_mib).files.query.ids
    scan = ImageFolderDataModule(root=root, manifest_cache=None).manifest()
    broken = scan.path(int(queries[5]))
    broken.write_bytes(b"not an image")  # still in the scan and the split, but not decoded
    module = folder_module(root, decoded_cache_mib)
    ids, spelled = evaluated_queries(module)
    assert [int(module.manifest().path(i).stem) for i in ids] == spelled.tolist()
    assert ids.tolist() == [i for i in queries.tolist() if i != queries[5]]


def test_list_file_queries_are_named_by_their_line(tmp_path):
    order = np.array([7, 2, 9, 4, 0, 5])  # the test list's images, in its order
    (tmp_path / "images").mkdir()
    names = {}
    for image_id, image in zip(range(10), id_images(np.arange(10), (12, 12, 3)), strict=True):
        names[image_id] = f"images/{image_id}.png"
        (tmp_path / names[image_id]).write_bytes(encode_image(image, ".png"))
    one_hot = np.eye(2, dtype=np.uint8)
    for list_name, members in (
        ("test.txt", order),
        ("train.txt", np.arange(10)),
        ("database.txt", np.arange(10)),
    ):
        write_list_file(tmp_path / list_name, [names[m] for m in members], one_hot[members % 2])
    module = ListFileDataModule(root=tmp_path, image_size=(8, 8), eval_batch_size=4)
    module.setup()
    ids, spelled = evaluated_queries(module)
    assert ids.tolist() == list(range(len(order)))  # the line, counted from 0
    assert order[ids].tolist() == spelled.tolist()
