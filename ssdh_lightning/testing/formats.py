"""Write images in the on-disk formats the readers take: MNIST's idx files, CIFAR-10's python
batches, folders of image files. Tests and benchmarks build small data sets with these, written to
the formats' specifications, and read them back with the real readers; no network needed."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from ssdh_lightning.data.mnist import IDX_FILES

# idx magic numbers: two zero bytes, the type code 0x08 (unsigned byte), the number of dimensions.
IDX_UBYTE = 0x08


def write_idx(path: Path, array: np.ndarray) -> Path:
    """One idx file (http://yann.lecun.com/exdb/mnist/): big-endian header, then the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, IDX_UBYTE, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + array.tobytes())
    return path


def write_mnist(
    root: Path,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    folder_name: str = "MNIST",
) -> Path:
    """uint8 images (N, 28, 28) and labels as ``<root>/<folder_name>/raw/*-idx?-ubyte``;
    ``folder_name`` is ``FashionMNIST`` for Fashion-MNIST. Returns the raw folder."""
    raw = Path(root) / folder_name / "raw"
    arrays = (train_images, train_labels, test_images, test_labels)
    for name, array in zip(IDX_FILES, arrays, strict=True):
        write_idx(raw / name, array)
    return raw


def _cifar_batch(path: Path, images: np.ndarray, labels: np.ndarray, batch_label: str) -> None:
    # A row is the red plane, then green, then blue, each 32x32 row-major: (N, 3, 32, 32) flat.
    rows = np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))
    batch = {
        "batch_label": batch_label,
        "labels": [int(label) for label in labels],
        "data": rows.astype(np.uint8),
        "filenames": [f"image_{i:05d}.png" for i in range(len(images))],
    }
    path.write_bytes(pickle.dumps(batch, protocol=2))


def write_cifar10(
    root: Path,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    class_names: list[str],
) -> Path:
    """uint8 images (N, 32, 32, 3) as ``<root>/cifar-10-batches-py/``: five training batches,
    ``test_batch`` and ``batches.meta``. Returns that folder."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    parts = np.array_split(np.arange(len(train_images)), 5)
    for number, part in enumerate(parts, start=1):
        label = f"training batch {number} of 5"
        _cifar_batch(folder / f"data_batch_{number}", train_images[part], train_labels[part], label)
    _cifar_batch(folder / "test_batch", test_images, test_labels, "testing batch 1 of 1")
    meta = {"label_names": list(class_names), "num_cases_per_batch": len(parts[0]), "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def class_patterns(
    count: int, labels: np.ndarray, shape: tuple[int, ...], seed: int, noise: int = 40
) -> np.ndarray:
    """uint8 images of ``shape`` for ``labels``: a fixed random pattern per class plus noise, so
    that a model can learn the classes in a few steps."""
    rng = np.random.default_rng(seed)
    patterns = rng.integers(0, 256, (count, *shape))
    noisy = patterns[labels] + rng.integers(-noise, noise + 1, (len(labels), *shape))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def encode_image(array: np.ndarray, extension: str = ".jpg") -> bytes:
    """uint8 (H, W, 3) or (H, W) encoded in the format of ``extension`` (PIL's encoders)."""
    stream = io.BytesIO()
    Image.fromarray(array).save(stream, format=Image.registered_extensions()[extension.lower()])
    return stream.getvalue()


def encode_psd(array: np.ndarray) -> bytes:
    """uint8 (H, W, 3) as a Photoshop file (version 1, raw RGB channels, no colour data, image
    resources or layers), which Pillow reads but cannot write: a format no reader here takes."""
    height, width, channels = array.shape
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, channels, height, width, 8, 3)  # 3: RGB
    sections = struct.pack(">IIIH", 0, 0, 0, 0)  # three empty sections, then raw image data
    return header + sections + np.ascontiguousarray(array.transpose(2, 0, 1)).tobytes()


def write_image_folder(
    root: Path,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    extension: str = ".jpg",
) -> list[Path]:
    """Images (N, H, W, 3) uint8 as ``<root>/<class name>/<number><extension>``."""
    paths = []
    for number, (image, label) in enumerate(zip(images, labels, strict=True)):
        path = Path(root) / class_names[label] / f"{number:07d}{extension}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_image(image, extension))
        paths.append(path)
    return paths


def write_repeated_files(
    root: Path, content: bytes, classes: int, per_class: int, extension: str = ".jpg"
) -> None:
    """``classes`` folders of ``per_class`` files, all holding ``content``: a large tree, fast."""
    for label in range(classes):
        folder = Path(root) / f"class_{label:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(per_class):
            (folder / f"{number:07d}{extension}").write_bytes(content)


def digit_multi_hot(digits: np.ndarray) -> np.ndarray:
    """Three overlapping classes of the digits d, uint8 (N, 3): d < 5, d even, d divisible by
    3. A 7 has none, a 6 two, a 0 all three: a small multi-label set with every case."""
    digits = np.asarray(digits)
    return np.stack([digits < 5, digits % 2 == 0, digits % 3 == 0], axis=1).astype(np.uint8)


def write_list_file(path: Path, names: list[str], labels: np.ndarray) -> Path:
    """A list file as the field writes them (HashNet, DeepHash-pytorch): ``name 0 1 0`` lines."""
    rows = [f"{name} {' '.join(map(str, row))}" for name, row in zip(names, labels, strict=True)]
    Path(path).write_text("\n".join(rows) + "\n")
    return Path(path)


def digit_images(count: int, size: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """``count`` grey images of the digits, enlarged to ``size`` pixels, with a little noise
    when an image repeats (more than 1,797)."""
    digits = load_digits()
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(count):
        number = i % len(digits.images)
        pixels = np.round(digits.images[number] * 255 / 16).astype(np.uint8)
        image = np.asarray(Image.fromarray(pixels).resize((size, size), Image.Resampling.BILINEAR))
        if i >= len(digits.images):
            image = np.clip(image + rng.integers(-8, 9, image.shape), 0, 255).astype(np.uint8)
        images.append(image)
        labels.append(digits.target[number])
    return images, np.array(labels)
