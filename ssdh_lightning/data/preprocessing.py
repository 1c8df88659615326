"""What a model expects of an image, saved with every checkpoint so any image can be prepared alike.

Models take uint8 images (B, C, H, W) and normalise them themselves (see ``models.Normalize``),
so preparing an image means only: convert its channels, resize, centre crop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
        object.__setattr__(self, "image_size", tuple(self.image_size))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if self.resize is not None:
            object.__setattr__(self, "resize", tuple(self.resize))

    def as_dict(self) -> dict:
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, values: dict) -> Preprocessing:
        return cls(**values)

    def resized(self, image: Image.Image) -> torch.Tensor:
        """A PIL image in the model's channels, resized to ``resize`` (or ``image_size``), as a
        uint8 tensor (C, H, W): what training crops are cut from."""
        image = image.convert("L" if self.channels == 1 else "RGB")
        resize_height, resize_width = self.resize or self.image_size
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
