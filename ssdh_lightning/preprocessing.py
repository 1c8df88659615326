"""What a model expects of an image, saved with every checkpoint so any image can be prepared alike.

Models take uint8 images (B, C, H, W) and normalise them themselves (see ``models.Normalize``),
so preparing an image means only: convert its channels, resize, centre crop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image

from ssdh_lightning.images.files import convert_image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# How pixels are normalised: ``torchvision`` as its ImageNet weights expect; ``caffe`` subtracts
# the ImageNet mean pixel and keeps the 0..255 scale, as the paper's CaffeNet; ``dataset`` uses the
# data set's own per-channel mean and standard deviation.
NORMALIZATIONS = ("torchvision", "caffe", "dataset")


def _size(name: str, value) -> tuple[int, int]:
    size = tuple(value)
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
        raise ValueError(f"{name} must be two positive integers [height, width], got {value!r}")
    return size


def _explicit_stats(
    normalization: Mapping, channels: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    mean, std = normalization.get("mean"), normalization.get("std")
    if (
        set(normalization) != {"mean", "std"}
        or not all(isinstance(v, Sequence) and len(v) == channels for v in (mean, std))
        or not all(isinstance(v, int | float) for v in (*mean, *std))
        or min(std) <= 0
    ):
        raise ValueError(
            f"data.normalization={dict(normalization)!r}: explicit statistics are {{mean: [...], "
            f"std: [...]}} in [0, 1] units, one value per channel ({channels}), std > 0"
        )
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def normalization_stats(
    normalization: str | Mapping | None,
    channels: int,
    dataset_stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) in [0, 1] units for ``data.normalization``: a name of ``NORMALIZATIONS``,
    explicit ``{mean, std}`` (what ssdh-train fills in for a timm model, from its pretrained
    config), or None: ImageNet's, as ``torchvision`` (ssdh-train fills in the model's first)."""
    if normalization is None:
        normalization = "torchvision"
    if isinstance(normalization, Mapping):
        return _explicit_stats(normalization, channels)
    allowed = NORMALIZATIONS if dataset_stats is not None else NORMALIZATIONS[:2]
    if normalization not in allowed:
        raise ValueError(
            f"data.normalization must be null (the model's), {{mean: [...], std: [...]}} or one "
            f"of {list(allowed)} for this data set, got {normalization!r}"
        )
    if normalization == "dataset":
        return dataset_stats
    if channels != 3:
        raise ValueError(
            f"data.normalization={normalization} uses ImageNet's RGB statistics, but these images "
            "have 1 channel; use data.normalization=dataset"
        )
    if normalization == "torchvision":
        return IMAGENET_MEAN, IMAGENET_STD
    # x in [0, 1]: (x - mean) / (1/255) is the pixel value minus the mean pixel, in 0..255.
    return IMAGENET_MEAN, (1 / 255,) * 3


@dataclass(frozen=True)
class Preprocessing:
    """``image_size`` is the network input (H, W); evaluation images are resized to ``resize``
    (or straight to ``image_size``) and centre-cropped to it. ``mean``/``std`` act on [0, 1]."""

    channels: int
    image_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {self.channels}")
        for name in ("mean", "std"):
            if len(getattr(self, name)) != self.channels:
                raise ValueError(
                    f"{name} needs one value per channel ({self.channels}), "
                    f"got {getattr(self, name)}"
                )
        object.__setattr__(self, "image_size", _size("image_size", self.image_size))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if self.resize is not None:
            resize = _size("resize", self.resize)
            if resize[0] < self.image_size[0] or resize[1] < self.image_size[1]:
                raise ValueError(
                    f"resize {list(resize)} is smaller than image_size {list(self.image_size)}: "
                    "the crop is cut out of the resized image; make resize at least image_size"
                )
            object.__setattr__(self, "resize", resize)

    def as_dict(self) -> dict:
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, values: dict) -> Preprocessing:
        return cls(**values)

    @property
    def stored_size(self) -> tuple[int, int]:
        """(height, width) of an image as decoded and kept: ``resize``, or ``image_size``."""
        return tuple(self.resize or self.image_size)

    def resized(self, image: Image.Image) -> torch.Tensor:
        """A PIL image in the model's channels, resized to ``resize`` (or ``image_size``), as a
        uint8 tensor (C, H, W): what training crops are cut from."""
        image = convert_image(image, self.channels)
        resize_height, resize_width = self.stored_size
        image = image.resize((resize_width, resize_height), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
        if array.ndim == 2:
            array = array[:, :, None]
        return torch.from_numpy(array.copy()).permute(2, 0, 1)

    def prepare(self, image: Image.Image) -> torch.Tensor:
        """A PIL image as the uint8 tensor (C, H, W) the model was trained on (evaluation view):
        resized, then its centre ``image_size``."""
        resized = self.resized(image)
        height, width = self.image_size
        resize_height, resize_width = resized.shape[1:]
        top, left = (resize_height - height) // 2, (resize_width - width) // 2
        return resized[:, top : top + height, left : left + width].contiguous()
