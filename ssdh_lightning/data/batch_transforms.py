"""Resize, crop and mirror whole uint8 batches (B, C, H, W) on their device.

Small data sets are held in memory at their native size and transformed a batch at a time after
the transfer to the device, so the loader does no per-image work. The evaluation view equals
``Preprocessing.prepare`` of each image (bilinear resize, centre crop) up to rounding: at most 1 in
a pixel value.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ssdh_lightning.preprocessing import Preprocessing


def resize_batch(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of uint8 images to ``size`` (H, W); antialiased like PIL when shrinking."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    resized = F.interpolate(
        images.float(), size=tuple(size), mode="bilinear", antialias=True, align_corners=False
    )
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def _check_fits(images: torch.Tensor, size: tuple[int, int]) -> None:
    height, width = images.shape[-2:]
    if size[0] > height or size[1] > width:
        raise ValueError(
            f"cannot crop {tuple(size)} out of images of {(height, width)}; "
            "set data.resize to at least data.image_size"
        )


def center_crop_batch(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The centre (H, W) = ``size`` of every image, placed as ``Preprocessing.prepare`` does."""
    _check_fits(images, size)
    height, width = images.shape[-2:]
    top, left = (height - size[0]) // 2, (width - size[1]) // 2
    return images[..., top : top + size[0], left : left + size[1]]


def random_crop_batch(
    images: torch.Tensor, size: tuple[int, int], generator: torch.Generator | None = None
) -> torch.Tensor:
    """A crop of ``size`` at a random place, drawn for each image independently."""
    _check_fits(images, size)
    batch, _, height, width = images.shape
    if (height, width) == tuple(size):
        return images
    # Offsets drawn on the CPU so that a CPU generator serves every device alike.
    tops = torch.randint(0, height - size[0] + 1, (batch,), generator=generator)
    lefts = torch.randint(0, width - size[1] + 1, (batch,), generator=generator)
    rows = (tops[:, None] + torch.arange(size[0])).to(images.device)
    columns = (lefts[:, None] + torch.arange(size[1])).to(images.device)
    index = torch.arange(batch, device=images.device)
    # One gather for the whole batch: (B, 1, 1, 1), (1, C, 1, 1), (B, 1, h, 1), (B, 1, 1, w).
    return images[
        index[:, None, None, None],
        torch.arange(images.shape[1], device=images.device)[None, :, None, None],
        rows[:, None, :, None],
        columns[:, None, None, :],
    ]


def random_mirror_batch(
    images: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Each image flipped left to right with probability 1/2."""
    flip = (torch.rand(len(images), generator=generator) < 0.5).to(images.device)
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def evaluation_view(images: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    """Queries and database: resize to ``resize`` (or ``image_size``), then the centre crop."""
    resized = resize_batch(images, preprocessing.stored_size)
    return center_crop_batch(resized, preprocessing.image_size)


def training_view(
    images: torch.Tensor,
    preprocessing: Preprocessing,
    mirror: bool,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Training: resize to ``resize`` (or ``image_size``), a random crop, a random mirror."""
    resized = resize_batch(images, preprocessing.stored_size)
    cropped = random_crop_batch(resized, preprocessing.image_size, generator)
    return random_mirror_batch(cropped, generator) if mirror else cropped
