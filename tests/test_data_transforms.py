"""The network's view of a batch: resize, crop and mirror on uint8 batches, and normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ssdh_lightning.data.batch_transforms import (
    center_crop_batch,
    evaluation_view,
    random_crop_batch,
    resize_batch,
    training_view,
)
from ssdh_lightning.models import Normalize
from ssdh_lightning.preprocessing import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocessing,
    normalization_stats,
)


def random_batch(count: int, channels: int, height: int, width: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, channels, height, width), generator=generator).to(
        torch.uint8
    )


def windows(image: torch.Tensor, size: tuple[int, int]) -> list[torch.Tensor]:
    """Every crop of ``size`` of one image (C, H, W)."""
    height, width = image.shape[-2:]
    return [
        image[:, top : top + size[0], left : left + size[1]]
        for top in range(height - size[0] + 1)
        for left in range(width - size[1] + 1)
    ]


@pytest.mark.parametrize(
    ("channels", "native", "resize", "image_size"),
    [(3, 32, (256, 256), (227, 227)), (3, 32, (40, 44), (36, 36)), (1, 28, None, (20, 20))],
)
def test_evaluation_view_of_a_batch_matches_preprocessing_prepare(
    channels, native, resize, image_size
):
    """What the index tools compute for one image file is what the model saw in evaluation."""
    mean, std = (0.5,) * channels, (0.25,) * channels
    preprocessing = Preprocessing(channels, image_size, mean, std, resize)
    batch = random_batch(4, channels, native, native)
    viewed = evaluation_view(batch, preprocessing)
    assert viewed.shape == (4, channels, *image_size) and viewed.dtype == torch.uint8
    for image, view in zip(batch, viewed, strict=True):
        array = image.permute(1, 2, 0).numpy()
        pil = Image.fromarray(array[:, :, 0] if channels == 1 else array)
        prepared = preprocessing.prepare(pil)
        difference = (prepared.int() - view.int()).abs()
        assert difference.max() <= 1  # bilinear rounding of PIL against torch
    assert torch.equal(viewed, evaluation_view(batch, preprocessing))  # deterministic


def test_the_native_size_passes_through_untouched():
    batch = random_batch(3, 3, 32, 32)
    preprocessing = Preprocessing(3, (32, 32), (0.5,) * 3, (0.5,) * 3)
    assert resize_batch(batch, (32, 32)) is batch
    assert torch.equal(evaluation_view(batch, preprocessing), batch)
    assert torch.equal(training_view(batch, preprocessing, mirror=False), batch)


def test_training_view_is_a_random_crop_of_the_resized_image_or_its_mirror():
    preprocessing = Preprocessing(3, (6, 6), (0.5,) * 3, (0.5,) * 3, resize=(10, 10))
    batch = random_batch(64, 3, 10, 10)
    viewed = training_view(batch, preprocessing, mirror=True, generator=torch.Generator())
    assert viewed.shape == (64, 3, 6, 6)
    offsets, mirrored = set(), 0
    for image, view in zip(batch, viewed, strict=True):
        plain = [i for i, w in enumerate(windows(image, (6, 6))) if torch.equal(w, view)]
        flipped = [i for i, w in enumerate(windows(image.flip(-1), (6, 6))) if torch.equal(w, view)]
        assert plain or flipped, "a training view is not a crop of its image"
        mirrored += bool(flipped)
        offsets.update(plain or flipped)
    assert 16 <= mirrored <= 48  # about half, for 64 images
    assert len(offsets) > 5  # each image draws its own crop


def test_training_view_is_seeded():
    preprocessing = Preprocessing(3, (6, 6), (0.5,) * 3, (0.5,) * 3, resize=(10, 10))
    batch = random_batch(16, 3, 10, 10)

    def view(seed: int) -> torch.Tensor:
        return training_view(batch, preprocessing, True, torch.Generator().manual_seed(seed))

    assert torch.equal(view(1), view(1))
    assert not torch.equal(view(1), view(2))


def test_crops_larger_than_the_image_are_refused():
    batch = random_batch(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"cannot crop \(9, 9\) out of images of \(8, 8\)"):
        center_crop_batch(batch, (9, 9))
    with pytest.raises(ValueError, match=r"set data\.resize to at least data\.image_size"):
        random_crop_batch(batch, (9, 9))
    with pytest.raises(ValueError, match=r"resize \[200, 200\] is smaller than image_size"):
        Preprocessing(3, (227, 227), (0.5,) * 3, (0.5,) * 3, resize=(200, 200))
    with pytest.raises(ValueError, match="image_size must be two positive integers"):
        Preprocessing(3, (0, 32), (0.5,) * 3, (0.5,) * 3)


def test_caffe_normalization_subtracts_the_mean_pixel_on_the_0_255_scale():
    mean, std = normalization_stats("caffe", channels=3)
    pixel = torch.tensor([200, 100, 50], dtype=torch.uint8).view(1, 3, 1, 1)
    expected = torch.tensor([200, 100, 50]) - torch.tensor(IMAGENET_MEAN) * 255
    assert torch.allclose(Normalize(mean, std)(pixel).flatten(), expected, atol=1e-3)
    assert normalization_stats("torchvision", channels=3) == (IMAGENET_MEAN, IMAGENET_STD)
    own = ((0.1,), (0.3,))
    assert normalization_stats("dataset", channels=1, dataset_stats=own) == own


@pytest.mark.parametrize(
    ("name", "channels", "stats", "message"),
    [
        (
            "imagenet",
            3,
            None,
            r"\['torchvision', 'caffe'\] for this data set, got 'imagenet'",
        ),
        ("dataset", 3, None, r"one of \['torchvision', 'caffe'\]"),
        ("torchvision", 1, ((0.1,), (0.3,)), r"use data\.normalization=dataset"),
    ],
)
def test_bad_normalization_choices_are_refused(name, channels, stats, message):
    with pytest.raises(ValueError, match=message):
        normalization_stats(name, channels, stats)


def test_images_keep_their_values_through_a_crop():
    batch = torch.from_numpy(np.arange(2 * 3 * 6 * 6, dtype=np.uint8).reshape(2, 3, 6, 6))
    assert torch.equal(center_crop_batch(batch, (2, 4)), batch[:, :, 2:4, 1:5])
