"""Images per second of a training epoch of the default small CNN, fed two ways from the same
files: our in-memory uint8 batches (sliced a batch at a time, mirrored on the device), and
torchvision's dataset with per-image transforms (PIL image, random flip, ToTensor) and the default
collate. Both run the same model, optimiser and loss in a plain loop.

    python benchmarks/bench_data_loading.py                      # synthetic CIFAR-10, 50,000 images
    python benchmarks/bench_data_loading.py --data mnist --images 60000
    python benchmarks/bench_data_loading.py --root data          # the real files, if they are there

Without ``--root`` (or when the files are not under it) the benchmark writes random images in
the real on-disk format (CIFAR-10 python batches or MNIST idx files) to a temporary folder and
reads them with the real readers; the timing does not depend on the pixel values.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import CIFAR10

from ssdh_lightning.data.base import Batch
from ssdh_lightning.data.cifar import CIFAR10DataModule
from ssdh_lightning.data.in_memory import InMemoryDataModule
from ssdh_lightning.data.mnist import VARIANTS, MNISTDataModule
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.testing.formats import write_cifar10, write_mnist

TEST_IMAGES = 1000  # the readers need a test split; it is not timed


def write_synthetic(data: str, root: Path, images: int, seed: int = 0) -> None:
    """Random images and labels in the real format of ``data`` under ``root``."""
    rng = np.random.default_rng(seed)
    shape = (28, 28) if data == "mnist" else (32, 32, 3)
    train_labels = rng.integers(0, 10, images).astype(np.uint8)
    test_labels = rng.integers(0, 10, TEST_IMAGES).astype(np.uint8)
    train_images = rng.integers(0, 256, (images, *shape), dtype=np.uint8)
    test_images = rng.integers(0, 256, (TEST_IMAGES, *shape), dtype=np.uint8)
    if data == "mnist":
        write_mnist(root, train_images, train_labels, test_images, test_labels)
    else:
        names = [f"class_{i}" for i in range(10)]
        write_cifar10(root, train_images, train_labels, test_images, test_labels, names)


def in_memory_module(data: str, root: Path, batch_size: int) -> InMemoryDataModule:
    if data == "mnist":
        module = MNISTDataModule(root=root, download=False, batch_size=batch_size)
    else:
        module = CIFAR10DataModule(
            root=root, download=False, verify_checksums=False, mirror=True, batch_size=batch_size
        )
    module.setup()
    return module


class _CIFAR10Unchecked(CIFAR10):
    """torchvision's reader without its md5 checks: the benchmark's own files are not the
    published ones."""

    train_list: ClassVar = [[name, None] for name, _ in CIFAR10.train_list]
    test_list: ClassVar = [[name, None] for name, _ in CIFAR10.test_list]
    meta: ClassVar = {**CIFAR10.meta, "md5": None}


def torchvision_loader(data: str, root: Path, batch_size: int, workers: int) -> DataLoader:
    """The plain way: torchvision's dataset, a PIL image and transforms per item."""
    if data == "mnist":
        dataset = VARIANTS["mnist"][1](str(root), train=True, transform=transforms.ToTensor())
    else:
        per_image = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor()])
        dataset = _CIFAR10Unchecked(str(root), train=True, transform=per_image)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=False
    )


def images_per_second(
    batches: Iterable[tuple[torch.Tensor, ...]],
    model: SSDHModule | None,
    device: torch.device,
    transform=None,
) -> float:
    """One pass over ``batches``: with a ``model``, a training step each; without, loading only."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if model else None
    seen = 0
    started = time.perf_counter()
    for images, labels, *_ in batches:  # our loaders also give positions, torchvision's do not
        images, labels = images.to(device), labels.to(device)
        if transform is not None:
            images = transform(images, True)
        if model is not None:
            loss = model.method_loss(Batch(images, labels, torch.arange(len(labels)))).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        seen += len(labels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - started)


def run(
    data: str = "cifar10",
    images: int = 50_000,
    batch_size: int = 64,
    root: Path | None = None,
    workers: int = 0,
    device: str = "cpu",
    repeats: int = 2,
) -> tuple[str, dict[str, dict[str, float]]]:
    """(source, {pipeline: {"loading": images/s, "training": images/s}}), the best of
    ``repeats`` epochs each; ``source`` says whether the files were the real ones under ``root``
    or synthetic."""
    torch.manual_seed(0)
    target = torch.device(device)
    with tempfile.TemporaryDirectory() as temporary:
        files = Path(root) if root is not None else Path(temporary)
        try:
            memory = in_memory_module(data, files, batch_size)
            source = f"the files under {files}"
        except FileNotFoundError:
            files = Path(temporary)
            write_synthetic(data, files, images)
            memory = in_memory_module(data, files, batch_size)
            source = f"{images:,} synthetic images in the real format"
        plain = torchvision_loader(data, files, batch_size, workers)

        def model() -> SSDHModule:
            preprocessing = memory.preprocessing.as_dict()
            return SSDHModule(num_classes=10, preprocessing=preprocessing).to(target).train()

        results = {}
        for name, loader, transform in (
            ("in-memory uint8, batched on the device", memory.train_dataloader(), memory),
            (f"torchvision per-image ({workers} workers)", plain, None),
        ):
            batch_transform = transform.transform_batch if transform is not None else None
            # The best of ``repeats`` epochs: a shared CPU slows some passes down.
            results[name] = {
                "loading": max(
                    images_per_second(loader, None, target, batch_transform) for _ in range(repeats)
                ),
                "training": max(
                    images_per_second(loader, model(), target, batch_transform)
                    for _ in range(repeats)
                ),
            }
    return source, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=["cifar10", "mnist"], default="cifar10")
    parser.add_argument("--images", type=int, default=50_000, help="synthetic training images")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--root", type=Path, help="data.root with the real files, if any")
    parser.add_argument("--workers", type=int, default=0, help="torchvision loader workers")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="torch's CPU threads (default: torch's own)")
    parser.add_argument("--repeats", type=int, default=2, help="epochs timed; the best counts")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    source, results = run(
        args.data,
        args.images,
        args.batch_size,
        args.root,
        args.workers,
        args.device,
        args.repeats,
    )
    threads = torch.get_num_threads()
    print(f"{args.data} ({source}), batch {args.batch_size}, {args.device}, {threads} threads")
    print("images per second")
    print(f"{'pipeline':<46} {'loading only':>14} {'training epoch':>16}")
    for name, rates in results.items():
        print(f"{name:<46} {rates['loading']:>14,.0f} {rates['training']:>16,.0f}")
    ours, plain = results.values()
    print(f"ratio, training epoch: {ours['training'] / plain['training']:.2f}x")
    print(f"ratio, loading only:   {ours['loading'] / plain['loading']:.2f}x")


if __name__ == "__main__":
    main()
