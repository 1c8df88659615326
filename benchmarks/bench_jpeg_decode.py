"""JPEG decoding for image folders: images per second of the folder data module's training loader
(decode, convert to RGB, resize to 256x256, stack) with 0, 1, 2, ... loader workers.

    python benchmarks/bench_jpeg_decode.py                       # 2,000 photos of 500x375
    python benchmarks/bench_jpeg_decode.py --images 5000 --workers 0 2 4 8

The photos are smooth synthetic images (a coarse random colour field, enlarged, with mild noise)
saved at JPEG quality 90, so they compress and decode like product photos rather than like noise.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ssdh_lightning.data.folder import ImageFolderDataModule
from ssdh_lightning.testing.formats import write_image_folder

CLASSES = 10


def synthetic_photos(count: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """(count, height, width, 3) uint8 smooth images."""
    rng = np.random.default_rng(seed)
    photos = np.empty((count, height, width, 3), dtype=np.uint8)
    for index in range(count):
        coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
        smooth = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), np.int16)
        noise = rng.integers(-6, 7, smooth.shape)
        photos[index] = np.clip(smooth + noise, 0, 255)
    return photos


def loader_images_per_second(root: Path, workers: int, batch_size: int) -> float:
    """One pass of the training loader (after the workers have started) in images per second."""
    module = ImageFolderDataModule(
        root=root, batch_size=batch_size, num_workers=workers, manifest_cache=None
    )
    module.setup()
    loader = module.train_dataloader()
    batches = iter(loader)
    first_images, *_ = next(batches)  # the workers are started and warm
    seen = 0
    started = time.perf_counter()
    for images, *_ in batches:
        seen += len(images)
    seconds = time.perf_counter() - started
    del batches, loader  # ends the workers
    if seen == 0:
        raise ValueError(f"{len(first_images)} images make one batch only: time needs more")
    return seen / seconds


def run(
    images: int = 2000,
    size: tuple[int, int] = (500, 375),
    workers: tuple[int, ...] = (0, 1, 2),
    batch_size: int = 64,
) -> dict[int, float]:
    """{workers: images per second} on ``images`` JPEG files of ``size`` (width, height)."""
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary) / "photos"
        labels = np.arange(images) % CLASSES
        photos = synthetic_photos(images, *size)
        write_image_folder(root, photos, labels, [f"class_{i}" for i in range(CLASSES)])
        return {count: loader_images_per_second(root, count, batch_size) for count in workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, nargs=2, default=(500, 375), metavar=("W", "H"))
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    rates = run(args.images, tuple(args.size), tuple(args.workers), args.batch_size)
    width, height = args.size
    print(f"{args.images:,} JPEGs of {width}x{height} -> 256x256 RGB, batch {args.batch_size}")
    fewest = min(rates)
    print(f"{'workers':>7} {'images/s':>10} {f'vs {fewest} workers':>13}")
    for count, rate in rates.items():
        print(f"{count:>7} {rate:>10,.0f} {rate / rates[fewest]:>12.2f}x")


if __name__ == "__main__":
    main()
