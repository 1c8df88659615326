"""Archives from elsewhere are checked against their format before anything is built: an MNIST
.gz is decompressed no further than its idx header promises, a CIFAR-10 batch's arrays are
built only once their shape, type and bytes agree with the format, and labels that do not fit
the images or the classes are named with their file before training."""

from __future__ import annotations

import gzip
import pickle
import re
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from numpy._core.multiarray import _reconstruct

from ssdh_lightning.data import CIFAR10DataModule, MNISTDataModule
from ssdh_lightning.data.idx_archives import (
    MAX_IDX_BYTES,
    InvalidIdxArchive,
    unpack_idx_archives,
)
from ssdh_lightning.data.mnist import IDX_FILES
from ssdh_lightning.testing.formats import write_cifar10, write_mnist

NAMES = [f"class {c}" for c in range(10)]
MIB = 2**20


def peak_traced_mib(function) -> tuple[float, BaseException | None]:
    """The peak of Python's and numpy's traced allocations while ``function`` runs (MiB), and
    what it raised."""
    tracemalloc.start()
    raised = None
    try:
        function()
    except Exception as error:
        raised = error
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / MIB, raised


# --- MNIST: a gzip bomb ----------------------------------------------------------------------


def idx_header(*shape: int) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, len(shape)) + struct.pack(f">{len(shape)}I", *shape)


def write_bomb(path: Path, zeros_mib: int) -> None:
    """A .gz holding a valid idx header for 300 images, their bytes, then ``zeros_mib`` MiB of
    zeros: a few hundred KB on disk."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    parts = [compressor.compress(idx_header(300, 28, 28) + bytes(300 * 28 * 28))]
    chunk = bytes(16 * MIB)
    parts += [compressor.compress(chunk) for _ in range(zeros_mib // 16)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join([*parts, compressor.flush()]))


def test_a_gzip_bomb_is_refused_after_what_its_header_promises(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    archive = raw / f"{IDX_FILES[0]}.gz"
    write_bomb(archive, zeros_mib=512)
    assert archive.stat().st_size < 2 * MIB
    peak, raised = peak_traced_mib(lambda: unpack_idx_archives(raw, IDX_FILES))
    assert isinstance(raised, InvalidIdxArchive)
    assert str(raised) == (
        f"{archive} is not a valid idx file: its header gives shape (300, 28, 28), 235216 bytes, "
        "but it holds more; delete it and fetch it again"
    )
    assert peak < 8  # MiB: the promise and one byte, never the 512 MiB of zeros
    assert not (raw / IDX_FILES[0]).exists()


def test_a_header_that_promises_more_than_mnist_holds_is_refused_unread(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / f"{IDX_FILES[0]}.gz").write_bytes(gzip.compress(idx_header(2**31, 28, 28)))
    module = MNISTDataModule(root=tmp_path, download=False)
    with pytest.raises(
        InvalidIdxArchive, match=re.escape(f"any MNIST file holds ({MAX_IDX_BYTES})")
    ):
        module.setup()


# --- MNIST: labels that do not fit ------------------------------------------------------------


def write_small_mnist(root: Path, train_labels: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    return write_mnist(root, train, train_labels, test, np.arange(10))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.arange(19) % 10, "{labels} holds 19 labels but {images} 20 images: they are not"),
        (np.r_[np.arange(19) % 10, 200], "{labels}: item 19 has the label 200, not one of the 10"),
    ],
)
def test_mnist_labels_that_do_not_fit_are_named_before_training(tmp_path, labels, message):
    raw = write_small_mnist(tmp_path, labels)
    module = MNISTDataModule(root=tmp_path, download=False)
    with pytest.raises(ValueError) as error:
        module.setup()
    expected = message.format(labels=raw / IDX_FILES[1], images=raw / IDX_FILES[0])
    assert str(error.value).startswith(expected)
    assert "delete it and run with data.download=true" in str(error.value)


# --- CIFAR-10 batches -------------------------------------------------------------------------


class Reduced:
    """Pickles as ``function(*args)``, then ``state`` given to the result, as numpy pickles
    its arrays: how a crafted batch says what it likes."""

    def __init__(self, function, args, state=None) -> None:
        self.function, self.args, self.state = function, args, state

    def __reduce__(self):
        return (self.function, self.args, self.state)


def write_cifar(root: Path) -> Path:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 2)
    train = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    test = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    return write_cifar10(root, train, labels, test, np.arange(10), NAMES)


def rewrite_batch(folder: Path, name: str, change) -> Path:
    path = folder / name
    batch = pickle.loads(path.read_bytes())  # the test's own file, written by write_cifar
    change(batch)
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return path


def cifar_error(root: Path) -> tuple[float, BaseException | None]:
    module = CIFAR10DataModule(root=root, download=False, verify_checksums=False)
    return peak_traced_mib(module.setup)


def uninitialised(length: int) -> Reduced:
    """numpy's first step of unpickling an array: an empty array of ``length`` bytes."""
    return Reduced(_reconstruct, (np.ndarray, (length,), b"b"))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (uninitialised(1_200_000_000), "has no array under 'data'"),  # the 156 bytes
        (uninitialised(9 * 10**12), "has no array under 'data'"),  # 9 TB
        (
            Reduced(_reconstruct, (np.ndarray, (0,), b"b"), (1, (10**9,), np.dtype("u1"), 0, b"x")),
            "array of shape (1000000000,) that its bytes do not fill",
        ),
        (np.array([1, None], dtype=object), "array of type 'O8', not of integers"),
        (np.zeros((20, 100), np.uint8), "holds 'data' of uint8 (20, 100), not rows of 3072"),
        (np.zeros((10_001, 3072), np.uint8), "larger than a batch (10000 x 3072 bytes)"),
    ],
)
def test_a_batch_whose_data_is_not_the_formats_builds_nothing(tmp_path, data, reason):
    folder = write_cifar(tmp_path)
    path = rewrite_batch(folder, "data_batch_2", lambda batch: batch.update(data=data))
    peak, raised = cifar_error(tmp_path)
    assert isinstance(raised, ValueError)
    assert str(raised).startswith(f"CIFAR-10: {path} ") and reason in str(raised)
    assert "delete it and run with data.download=true" in str(raised)
    assert peak < 128  # MiB; the largest crafted file is a 30 MiB batch


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda batch: batch.pop("data"), "{path} has no array under 'data'"),
        (lambda batch: batch.pop("labels"), "{path} has no list of integers under 'labels'"),
        (lambda batch: batch["labels"].pop(), "{path} holds 3 labels but {path} 4 images: they"),
        (
            lambda batch: batch["labels"].__setitem__(1, 200),
            "{path}: item 1 has the label 200, not one of the 10 classes (0 to 9; 1 such labels)",
        ),
    ],
)
def test_a_batch_without_data_or_with_labels_that_do_not_fit_is_named(tmp_path, change, message):
    folder = write_cifar(tmp_path)
    path = rewrite_batch(folder, "data_batch_4", change)
    _, raised = cifar_error(tmp_path)
    assert isinstance(raised, ValueError)
    assert message.format(path=path) in str(raised)


def test_meta_without_class_names_and_a_file_larger_than_a_batch_are_named(tmp_path):
    folder = write_cifar(tmp_path)
    meta = rewrite_batch(folder, "batches.meta", lambda meta: meta.pop("label_names"))
    _, raised = cifar_error(tmp_path)
    assert f"CIFAR-10: {meta} has no list of class names under 'label_names'" in str(raised)
    folder = write_cifar(tmp_path)
    with open(folder / "test_batch", "r+b") as stream:
        stream.truncate(65 * MIB)  # sparse: no 65 MiB written
    _, raised = cifar_error(tmp_path)
    assert f"{folder / 'test_batch'} is {65 * MIB} bytes, more than a batch file" in str(raised)


def test_a_batch_as_python_2_pickled_it_is_read(tmp_path):
    # The published files are Python 2 pickles: an array's bytes come as a latin-1 string.
    folder = write_cifar(tmp_path)
    rows = np.random.default_rng(1).integers(0, 256, (4, 3072), dtype=np.uint8)
    state = (1, rows.shape, np.dtype("u1"), False, rows.tobytes().decode("latin1"))
    python2 = Reduced(_reconstruct, (np.ndarray, (0,), b"b"), state)
    rewrite_batch(folder, "data_batch_5", lambda batch: batch.update(data=python2))
    module = CIFAR10DataModule(root=tmp_path, download=False, verify_checksums=False)
    module.setup()
    images = module.splits.database.images
    assert np.array_equal(images[-4:].reshape(4, -1).numpy(), rows)
