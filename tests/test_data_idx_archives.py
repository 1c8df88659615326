"""idx archives with other checksums (Debian's recompressed Fashion-MNIST): read by content."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from ssdh_lightning.data import MNISTDataModule
from ssdh_lightning.data.idx_archives import InvalidIdxArchive
from ssdh_lightning.data.mnist import IDX_FILES
from ssdh_lightning.testing.formats import write_mnist


def arrays(seed: int = 0):
    rng = np.random.default_rng(seed)
    train = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), np.arange(20) % 10
    test = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), np.arange(10) % 10
    return train, test


def write_archives(root: Path, compress) -> Path:
    """Fashion-MNIST's four idx files as ``<name>.gz`` written by ``compress`` (bytes -> bytes),
    the uncompressed files removed, as a package that ships only the archives leaves them."""
    train, test = arrays()
    raw = write_mnist(root, *train, *test, folder_name="FashionMNIST")
    for name in IDX_FILES:
        (raw / f"{name}.gz").write_bytes(compress((raw / name).read_bytes()))
        (raw / name).unlink()
    return raw


def recompressed(data: bytes) -> bytes:
    # another level and time stamp than the published archives: other bytes, other checksums
    return gzip.compress(data, compresslevel=1, mtime=12345)


@pytest.mark.parametrize(
    ("compress", "how"), [(recompressed, "gzip"), (lambda data: data, "uncompressed")]
)
@pytest.mark.parametrize("download", [False, True])
def test_archives_of_valid_idx_content_are_unpacked_whatever_their_compression(
    tmp_path, caplog, compress, how, download
):
    raw = write_archives(tmp_path, compress)
    module = MNISTDataModule(variant="fashion_mnist", root=tmp_path, download=download)
    with caplog.at_level(logging.INFO, logger="ssdh_lightning.data.idx_archives"):
        module.setup()
    (train_images, train_labels), (test_images, _) = arrays()
    assert torch.equal(module.splits.database.images[:, 0], torch.from_numpy(train_images))
    assert module.splits.database.labels.tolist() == train_labels.tolist()
    assert torch.equal(module.splits.query.images[:, 0], torch.from_numpy(test_images))
    assert all((raw / name).is_file() for name in IDX_FILES)
    told = caplog.text
    assert f"{raw / IDX_FILES[0]}.gz ({how}, a valid idx file of shape (20, 28, 28))" in told
    assert f"unpacked {raw / IDX_FILES[3]}.gz ({how}, a valid idx file of shape (10,))" in told


def header_changed(data: bytes) -> bytes:
    return b"\x00\x00\x09\x03" + data[4:]


@pytest.mark.parametrize(
    ("damage", "name", "problem"),
    [
        (lambda data: gzip.compress(header_changed(data)), 0, "its magic number is 00000903"),
        (lambda data: gzip.compress(data[:-5]), 0, "15696 bytes, but it holds 15691"),
        (lambda data: gzip.compress(b"<html>not found</html>"), 1, "its magic number is 3c68746d"),
        (lambda data: gzip.compress(data)[:-30], 2, "cannot be decompressed"),
    ],
)
def test_an_archive_whose_content_is_not_a_valid_idx_file_is_named(tmp_path, damage, name, problem):
    raw = write_archives(tmp_path, recompressed)
    archive = raw / f"{IDX_FILES[name]}.gz"
    archive.write_bytes(damage(gzip.decompress(archive.read_bytes())))
    module = MNISTDataModule(variant="fashion_mnist", root=tmp_path, download=False)
    with pytest.raises(InvalidIdxArchive) as error:
        module.setup()
    assert str(archive) in str(error.value) and problem in str(error.value)
    assert "delete it and fetch it again" in str(error.value)
    assert not any((raw / name).exists() for name in IDX_FILES)  # nothing half unpacked


def test_images_and_labels_of_different_counts_are_refused(tmp_path):
    raw = write_archives(tmp_path, recompressed)
    labels = raw / f"{IDX_FILES[1]}.gz"
    data = gzip.decompress(labels.read_bytes())
    labels.write_bytes(gzip.compress(data[:7] + bytes([19]) + data[8:-1]))
    module = MNISTDataModule(variant="fashion_mnist", root=tmp_path, download=False)
    with pytest.raises(InvalidIdxArchive, match=r"holds 20 images but .* 19 labels"):
        module.setup()
