"""MNIST, Fashion-MNIST and CIFAR-10 written in their real formats and read by torchvision's
readers: splits of PROTOCOL.md, views, and the errors of a machine without the files."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from helpers import call_tool, compose_config
from ssdh_lightning.data import CIFAR10DataModule, DataFilesMissing, MNISTDataModule
from ssdh_lightning.data.base import Batch
from ssdh_lightning.data.in_memory import InMemoryImages
from ssdh_lightning.data.mnist import IDX_FILES
from ssdh_lightning.testing.formats import write_cifar10, write_mnist

CLASSES = 10
CIFAR_NAMES = [f"class_{i}" for i in range(CLASSES)]
UNREACHABLE_PROXY = "http://127.0.0.1:9"  # the discard port: every download fails at once


def images_with_ids(per_class: int, shape: tuple[int, ...], first_id: int, seed: int):
    """(images, labels): uint8 images of ``shape`` whose first two values (in C, H, W order) spell
    a unique id, so that the sets a split makes can be compared image by image."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(CLASSES, dtype=np.uint8), per_class)
    images = rng.integers(0, 256, (len(labels), *shape), dtype=np.uint8)
    ids = first_id + np.arange(len(labels))
    first, second = (
        (np.s_[:, 0, 0], np.s_[:, 0, 1])
        if len(shape) == 2
        else (
            np.s_[:, 0, 0, 0],
            np.s_[:, 0, 1, 0],
        )
    )
    images[first], images[second] = ids // 256, ids % 256
    return images, labels


def ids_of(dataset: InMemoryImages) -> np.ndarray:
    flat = dataset.images.flatten(1)[:, :2].numpy().astype(np.int64)
    return flat[:, 0] * 256 + flat[:, 1]


@pytest.fixture(scope="module")
def mnist_files(tmp_path_factory):
    """12 training and 4 test images a class, as MNIST's idx files."""
    root = tmp_path_factory.mktemp("mnist")
    train = images_with_ids(12, (28, 28), 0, seed=1)
    test = images_with_ids(4, (28, 28), 1000, seed=2)
    write_mnist(root, *train, *test)
    return root, train, test


@pytest.fixture(scope="module")
def cifar_files(tmp_path_factory):
    """610 training and 5 test images a class (enough for the cnnh split), as python batches."""
    root = tmp_path_factory.mktemp("cifar")
    train = images_with_ids(610, (32, 32, 3), 0, seed=3)
    test = images_with_ids(5, (32, 32, 3), 10_000, seed=4)
    write_cifar10(root, *train, *test, CIFAR_NAMES)
    return root, train, test


def test_mnist_paper_protocol_through_torchvision_reader(mnist_files):
    root, (train_images, train_labels), (test_images, test_labels) = mnist_files
    module = MNISTDataModule(root=root, download=False)
    module.prepare_data()
    module.setup()
    splits = module.splits
    assert splits.train is splits.database  # the paper protocol trains on the database
    assert torch.equal(splits.database.images[:, 0], torch.from_numpy(train_images))
    assert torch.equal(splits.database.labels, torch.from_numpy(train_labels).long())
    assert torch.equal(splits.query.images[:, 0], torch.from_numpy(test_images))
    assert torch.equal(splits.query.labels, torch.from_numpy(test_labels).long())
    assert module.class_names[:2] == ["0 - zero", "1 - one"]
    assert module.num_classes == CLASSES
    preprocessing = module.preprocessing
    assert (preprocessing.channels, preprocessing.image_size) == (1, (28, 28))
    assert preprocessing.mean == (0.1307,) and preprocessing.resize is None


def test_fashion_mnist_is_the_same_code_in_its_own_folder(tmp_path, mnist_files):
    _, train, test = mnist_files
    write_mnist(tmp_path, *train, *test, folder_name="FashionMNIST")
    module = MNISTDataModule(variant="fashion_mnist", root=tmp_path, download=False)
    module.setup()
    assert module.class_names[0] == "T-shirt/top" and module.class_names[-1] == "Ankle boot"
    assert len(module.splits.query) == 4 * CLASSES
    assert module.preprocessing.mean == (0.2860,)


def test_a_truncated_file_is_named_with_the_fix(tmp_path, mnist_files):
    _, train, test = mnist_files
    write_mnist(tmp_path, *train, *test)
    path = tmp_path / "MNIST" / "raw" / IDX_FILES[0]
    path.write_bytes(path.read_bytes()[:-100])
    module = MNISTDataModule(root=tmp_path, download=False)
    with pytest.raises(ValueError, match=r"MNIST: the files in .*raw cannot be read") as error:
        module.setup()
    assert "delete them and run with data.download=true" in str(error.value)


def test_cifar10_paper_protocol_through_torchvision_reader(cifar_files):
    root, (train_images, train_labels), (test_images, _) = cifar_files
    module = CIFAR10DataModule(root=root, download=False, verify_checksums=False)
    module.setup()
    splits = module.splits
    assert module.class_names == CIFAR_NAMES
    assert splits.train is splits.database
    assert len(splits.database) == len(train_images) and len(splits.query) == len(test_images)
    as_chw = torch.from_numpy(train_images).permute(0, 3, 1, 2)
    assert torch.equal(splits.database.images, as_chw)
    assert torch.equal(splits.database.labels, torch.from_numpy(train_labels).long())
    assert not set(ids_of(splits.query)) & set(ids_of(splits.database))
    assert (module.preprocessing.channels, module.preprocessing.image_size) == (3, (32, 32))


def test_cifar10_cnnh_protocol_sizes_balance_and_disjointness(cifar_files):
    root, (train_images, _), (test_images, _) = cifar_files
    module = CIFAR10DataModule(root=root, download=False, verify_checksums=False, protocol="cnnh")
    module.setup()
    splits = module.splits
    total = len(train_images) + len(test_images)
    assert len(splits.query) == 1000 and len(splits.train) == 5000
    assert len(splits.database) == total - 1000
    assert torch.equal(torch.bincount(splits.query.labels), torch.full((CLASSES,), 100))
    assert torch.equal(torch.bincount(splits.train.labels), torch.full((CLASSES,), 500))
    query, database, train = (ids_of(s) for s in (splits.query, splits.database, splits.train))
    assert not set(query) & set(database)  # no query in the database
    assert set(train) <= set(database)
    assert len(set(query) | set(database)) == total  # every image is used once
    test_ids = set(range(10_000, 10_000 + len(test_images)))
    assert set(query) & test_ids and set(query) - test_ids  # queries come from the whole pool


def test_cifar10_cnnh_split_is_seeded(cifar_files):
    root = cifar_files[0]

    def query_ids(seed: int) -> np.ndarray:
        module = CIFAR10DataModule(
            root=root, download=False, verify_checksums=False, protocol="cnnh", seed=seed
        )
        module.setup()
        return ids_of(module.splits.query)

    assert np.array_equal(query_ids(3), query_ids(3))
    assert not np.array_equal(query_ids(3), query_ids(4))


def test_cifar10_files_that_are_not_the_published_ones_are_named(cifar_files):
    module = CIFAR10DataModule(root=cifar_files[0], download=False)
    with pytest.raises(ValueError) as error:
        module.setup()
    message = str(error.value)
    assert "data_batch_1" in message and "batches.meta" in message
    assert "do not match the published files' md5 checksums" in message
    assert "data.verify_checksums=false" in message and "data.download=true" in message


def test_alexnet_preprocessing_resizes_crops_and_mirrors_batches(cifar_files):
    module = CIFAR10DataModule(
        root=cifar_files[0],
        download=False,
        verify_checksums=False,
        resize=(64, 64),
        image_size=(56, 56),
        normalization="caffe",
    )
    module.setup()
    images, labels, positions = next(iter(module.train_dataloader()))
    assert images.shape[1:] == (3, 32, 32)  # memory keeps the native size
    assert module.transform_batch(images, training=True).shape[1:] == (3, 56, 56)
    # Outside a trainer's fit, a batch gets the evaluation view, as queries and database do.
    viewed, same_labels, _ = module.on_after_batch_transfer(Batch(images, labels, positions), 0)
    assert viewed.shape[1:] == (3, 56, 56) and same_labels is labels
    assert torch.equal(viewed, module.transform_batch(images, training=False))
    assert module.preprocessing.resize == (64, 64)
    assert module.preprocessing.std == pytest.approx((1 / 255,) * 3)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MNISTDataModule(protocol="cnnh"), r"\['paper', 'small'\] for MNIST, got 'cnnh'"),
        (
            lambda: CIFAR10DataModule(protocol="cnhh"),
            r"\['paper', 'cnnh'\] for CIFAR-10, got 'cnhh'",
        ),
        (lambda: MNISTDataModule(variant="kmnist"), r"data\.variant must be one of"),
        (lambda: MNISTDataModule(normalization="torchvision"), "these images have 1 channel"),
    ],
)
def test_bad_choices_are_refused_when_the_module_is_built(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_missing_files_without_download_name_each_file_the_folder_and_both_fixes(tmp_path):
    module = MNISTDataModule(root=tmp_path, download=False)
    with pytest.raises(DataFilesMissing) as error:
        module.prepare_data()
    message = str(error.value)
    folder = tmp_path / "MNIST" / "raw"
    for name in IDX_FILES:
        assert str(folder / name) in message
    assert "(data.download=false)" in message
    assert f"put these files in {folder}" in message and "data.download=true" in message


@pytest.fixture
def offline(monkeypatch):
    """Every HTTP(S) request of this process fails at once, as on a machine without a network:
    it goes to a proxy that refuses it (urllib's opener, made anew, reads the proxy settings)."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, UNREACHABLE_PROXY)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(urllib.request, "_opener", None)


def test_offline_training_fails_before_it_starts_naming_the_files(tmp_path, offline):
    with pytest.raises(DataFilesMissing) as error:
        call_tool(
            "ssdh-train",
            "data=cifar10",
            f"data.root={tmp_path / 'nothing'}",
            run_dir=tmp_path / "run",
        )
    message = str(error.value)
    folder = tmp_path / "nothing" / "cifar-10-batches-py"
    assert f"CIFAR-10: 7 file(s) missing from {folder} (the download failed" in message
    assert str(folder / "test_batch") in message
    assert "cifar-10-python.tar.gz" in message
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_ssdh_train_on_mnist_records_its_classes_and_image_shape(mnist_files, tmp_path):
    root = mnist_files[0]
    run_dir = tmp_path / "run"
    call_tool(
        "ssdh-train",
        "data=mnist",
        f"data.root={root}",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        run_dir=run_dir,
    )
    assert (run_dir / "metrics.json").is_file()
    class_names = json.loads((run_dir / "class_names.json").read_text())
    assert class_names[:2] == ["0 - zero", "1 - one"] and len(class_names) == CLASSES
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    assert hparams["num_classes"] == CLASSES and hparams["class_names"] == class_names
    assert hparams["preprocessing"]["channels"] == 1
    assert list(hparams["preprocessing"]["image_size"]) == [28, 28]
    assert Path(hparams["data_config"]["root"]) == root


def test_fashion_mnist_config_is_the_mnist_config_with_its_variant():
    cfg = compose_config("train", "data=fashion_mnist", "data.root=elsewhere")
    module = instantiate(cfg.data)
    assert isinstance(module, MNISTDataModule) and module.variant == "fashion_mnist"
    assert module.folder == Path("elsewhere") / "FashionMNIST" / "raw"
    assert module.download and module.protocol == "paper"
