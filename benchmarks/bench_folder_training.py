"""A training epoch of the default small CNN on an image folder, against the same model on the
same images already decoded in memory: images per second of each and their ratio.

    python benchmarks/bench_folder_training.py                 # 3,000 64x64 JPEG and PNG files
    python benchmarks/bench_folder_training.py --images 10000 --size 96

The folder side is what ``ssdh-train data=folder`` runs: the folder data module with its default
settings (scan, decoding, the model's input size) and Lightning's ``Trainer.fit`` for one epoch;
its time counts from the data module's construction, so the scan and any decoding are in it. The
in-memory side feeds the same decoded images, uint8 tensors sliced a batch at a time, to the same
model, module and trainer. Neither validates: a training epoch is timed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch

from ssdh_lightning.data.base import RetrievalDataModule, Splits
from ssdh_lightning.data.batch_transforms import training_view
from ssdh_lightning.data.folder import ImageFolderDataModule
from ssdh_lightning.data.in_memory import InMemoryImages, stacked_batch
from ssdh_lightning.images.files import load_image
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.testing.formats import class_patterns, write_image_folder

CLASSES = 10


def write_folder(root: Path, images: int, size: int, seed: int = 0) -> None:
    """``images`` class-patterned images of ``size`` x ``size`` in ``root/class_<i>/``, half
    JPEG, half PNG."""
    labels = np.arange(images) % CLASSES
    pixels = class_patterns(CLASSES, labels, (size, size, 3), seed)
    names = [f"class_{i}" for i in range(CLASSES)]
    for extension, half in ((".jpg", slice(0, None, 2)), (".png", slice(1, None, 2))):
        write_image_folder(root, pixels[half], labels[half], names, extension)


class DecodedImages(RetrievalDataModule):
    """The reference: images decoded beforehand, sliced from memory, cropped and mirrored on the
    device as the folder module does."""

    collate_fn = staticmethod(stacked_batch)

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, preprocessing, **options):
        super().__init__(**options)
        self.images, self.labels, self._preprocessing = images, labels, preprocessing

    def load_splits(self) -> Splits:
        data = InMemoryImages(self.images, self.labels)
        return Splits(data, data, data, [str(i) for i in range(CLASSES)], self._preprocessing)

    def transform_batch(self, images: torch.Tensor, training: bool) -> torch.Tensor:
        return training_view(images, self.preprocessing, mirror=True)


def decoded(folder: ImageFolderDataModule) -> tuple[torch.Tensor, torch.Tensor]:
    """The folder's training images decoded and resized as the model sees them, with labels."""
    preprocessing, files = folder.preprocessing, folder.files.train
    images = [
        preprocessing.resized(load_image(files.path_of(p), preprocessing.channels))
        for p in files.positions
    ]
    return torch.stack(images), torch.as_tensor(np.asarray(files.labels))


def trainer() -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def epoch_images_per_second(build_datamodule) -> tuple[float, int, RetrievalDataModule]:
    """(images/s, images, data module): one training epoch from the data module's construction."""
    torch.manual_seed(0)
    started = time.perf_counter()
    datamodule = build_datamodule()
    datamodule.setup("fit")
    model = SSDHModule(
        num_classes=datamodule.num_classes, preprocessing=datamodule.preprocessing.as_dict()
    )
    trainer().fit(model, datamodule=datamodule)
    seconds = time.perf_counter() - started
    count = len(datamodule.splits.train)
    return count / seconds, count, datamodule


def run(images: int = 3000, size: int = 64, repeats: int = 3) -> dict[str, float]:
    """Images/s and seconds of each pipeline and their ratio, the best of ``repeats`` each."""
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary) / "images"
        write_folder(root, images, size)

        def folder() -> ImageFolderDataModule:
            return ImageFolderDataModule(root=root, manifest_cache=None)

        folder_rates = [epoch_images_per_second(folder) for _ in range(repeats)]
        reference = folder_rates[0][2]
        pixels, labels = decoded(reference)

        def in_memory() -> DecodedImages:
            return DecodedImages(pixels, labels, reference.preprocessing)

        memory_rates = [epoch_images_per_second(in_memory) for _ in range(repeats)]
    folder_rate = max(rate for rate, _, _ in folder_rates)
    memory_rate = max(rate for rate, _, _ in memory_rates)
    count = folder_rates[0][1]
    return {
        "images": count,
        "image size": list(reference.preprocessing.image_size),
        "folder": folder_rate,
        "folder seconds": count / folder_rate,
        "in memory": memory_rate,
        "in memory seconds": count / memory_rate,
        "ratio": folder_rate / memory_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--size", type=int, default=64, help="width and height of the files")
    parser.add_argument("--repeats", type=int, default=3, help="epochs timed; the best counts")
    args = parser.parse_args()
    result = run(args.images, args.size, args.repeats)
    print(
        f"{result['images']:,} training images of {args.size}x{args.size} (JPEG and PNG), "
        f"network input {result['image size']}, {torch.get_num_threads()} torch threads, "
        f"best of {args.repeats}"
    )
    print(f"{'pipeline':<32} {'epoch s':>8} {'images/s':>9}")
    print(
        f"{'image folder (ssdh-train path)':<32} {result['folder seconds']:>8.1f} "
        f"{result['folder']:>9,.0f}"
    )
    print(
        f"{'same images in memory':<32} {result['in memory seconds']:>8.1f} "
        f"{result['in memory']:>9,.0f}"
    )
    print(f"ratio, folder / in memory: {result['ratio']:.2f}")


if __name__ == "__main__":
    main()
