"""Small data sets held in memory as uint8 tensors and served a whole batch at a time."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ssdh_lightning.data.base import Batch


class InMemoryImages(Dataset):
    """uint8 images (N, C, H, W) with their labels; ``__getitems__`` indexes a batch at once."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.images[index], self.labels[index], index

    def __getitems__(self, indices: list[int]) -> Batch:
        rows = torch.as_tensor(indices)
        return Batch(self.images[rows], self.labels[rows], rows)


def stacked_batch(batch: Batch) -> Batch:
    """The collate function for ``InMemoryImages``: its batches come stacked already."""
    return batch
