"""Fashion-MNIST at MNIST size (issue 23): the ``small`` protocol on Fashion-MNIST-format files
as Debian packages them (gzip archives), and the experiment that trains on it."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from helpers import compose_config
from ssdh_lightning.data import DataFilesMissing, MNISTDataModule
from ssdh_lightning.data.mnist import IDX_FILES
from ssdh_lightning.testing.formats import write_mnist

CLASSES = 10
TRAIN_PER_CLASS, TEST_PER_CLASS = 1000, 150  # 1,150 a class: 100 queries and 1,000 database


def labelled_images(per_class: int, first_id: int, seed: int):
    """uint8 28x28 images whose first two pixels spell a unique id, and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(CLASSES, dtype=np.uint8), per_class)
    images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
    ids = first_id + np.arange(len(labels))
    images[:, 0, 0], images[:, 0, 1] = ids // 256, ids % 256
    return images, labels


def ids_of(images: torch.Tensor) -> set[int]:
    pixels = images.flatten(1)[:, :2].numpy().astype(np.int64)
    return set((pixels[:, 0] * 256 + pixels[:, 1]).tolist())


@pytest.fixture(scope="module")
def fashion_root(tmp_path_factory):
    """Fashion-MNIST-format files, each gzipped beside nothing else, as Debian ships them."""
    root = tmp_path_factory.mktemp("fashion")
    train = labelled_images(TRAIN_PER_CLASS, 0, seed=1)
    test = labelled_images(TEST_PER_CLASS, len(train[0]), seed=2)
    raw = write_mnist(root, *train, *test, folder_name="FashionMNIST")
    for name in IDX_FILES:
        (raw / f"{name}.gz").write_bytes(gzip.compress((raw / name).read_bytes()))
        (raw / name).unlink()
    return root


def small_split(root, seed: int = 0) -> MNISTDataModule:
    module = MNISTDataModule(
        variant="fashion_mnist", root=root, download=False, protocol="small", seed=seed
    )
    module.prepare_data()
    module.setup()
    return module


def test_the_small_protocol_sizes_balance_and_disjointness(fashion_root):
    splits = small_split(fashion_root).splits
    assert (len(splits.query), len(splits.database), len(splits.train)) == (1000, 10_000, 4000)
    for split, per_class in ((splits.query, 100), (splits.database, 1000), (splits.train, 400)):
        assert torch.equal(torch.bincount(split.labels), torch.full((CLASSES,), per_class))
    query, database, train = (
        ids_of(s.images) for s in (splits.query, splits.database, splits.train)
    )
    assert not query & database and train <= database
    pool = CLASSES * (TRAIN_PER_CLASS + TEST_PER_CLASS)
    assert query | database <= set(range(pool))
    test_ids = set(range(CLASSES * TRAIN_PER_CLASS, pool))
    assert query & test_ids and query - test_ids  # the queries come from the whole pool


def test_the_small_protocol_is_seeded(fashion_root):
    def ids(seed: int, split: str) -> set[int]:
        return ids_of(getattr(small_split(fashion_root, seed).splits, split).images)

    assert ids(3, "query") == ids(3, "query") and ids(3, "train") == ids(3, "train")
    assert ids(3, "train") != ids(4, "train")


def test_an_unknown_protocol_names_the_choices(fashion_root):
    with pytest.raises(ValueError, match=r"\['paper', 'small'\] for Fashion-MNIST"):
        MNISTDataModule(variant="fashion_mnist", root=fashion_root, protocol="tiny")


def test_the_experiment_composes_on_the_files(fashion_root):
    cfg = compose_config("train", "experiment=fashion_mnist", f"data.root={fashion_root}")
    assert (cfg.model.backbone.name, cfg.model.hash_bits, cfg.trainer.max_epochs) == (
        "small_cnn",
        48,
        10,
    )
    assert 1000 in cfg.retrieval.map_at and cfg.experiment_name == "fashion_mnist"
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    # each step's gradient scaled to an L2 norm of at most 1 (Lightning clips by norm unless
    # told otherwise; docs/methods.md says why)
    assert trainer.gradient_clip_val == 1.0 and trainer.gradient_clip_algorithm in (None, "norm")
    module = instantiate(cfg.data)
    assert (module.variant, module.protocol, module.download) == ("fashion_mnist", "small", True)
    module.setup()
    assert module.preprocessing.image_size == (28, 28) and len(module.splits.train) == 4000


def test_the_full_experiment_is_the_standard_split_a_four_block_cnn_and_a_late_rate_drop(
    fashion_root,
):
    cfg = compose_config(
        "train", "experiment=fashion_mnist_full", "method=dpn", f"data.root={fashion_root}"
    )
    assert cfg.experiment_name == "fashion_mnist_full" and cfg.trainer.max_epochs == 10
    assert cfg.trainer.gradient_clip_val == 1.0 and cfg.model.backbone.name == "small_cnn"
    data = instantiate(cfg.data)
    data.setup()
    splits = data.splits
    test_images, train_images = CLASSES * TEST_PER_CLASS, CLASSES * TRAIN_PER_CLASS
    assert (len(splits.query), len(splits.database), len(splits.train)) == (
        test_images,
        train_images,
        train_images,
    )
    model = instantiate(
        cfg.model,
        num_classes=CLASSES,
        preprocessing=data.preprocessing.as_dict(),
        method=OmegaConf.to_container(cfg.method, resolve=True),
        train_size=train_images,
    )
    built = model.configure_optimizers()
    optimizer, schedule = built["optimizer"], built["lr_scheduler"]
    assert schedule["interval"] == "epoch"
    rates = []
    for _ in range(cfg.trainer.max_epochs):  # the rate each epoch trains at
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule["scheduler"].step()
    assert rates == pytest.approx([0.01] * 7 + [0.001] * 3)
    # four blocks, the last two of 128 channels at 7x7 (no pooling below 8), feed the 256 features
    blocks = [layer for layer in model.backbone.convolutions if isinstance(layer, torch.nn.Conv2d)]
    assert [block.out_channels for block in blocks] == [32, 64, 128, 128]
    pools = [
        layer for layer in model.backbone.convolutions if isinstance(layer, torch.nn.MaxPool2d)
    ]
    assert len(pools) == 2
    assert model.backbone.fc[1].in_features == 128 * 7 * 7 and model.backbone.feature_dim == 256


def test_offline_without_the_files_names_the_folder(tmp_path):
    cfg = compose_config(
        "train", "experiment=fashion_mnist", f"data.root={tmp_path}", "data.download=false"
    )
    with pytest.raises(DataFilesMissing, match="FashionMNIST"):
        instantiate(cfg.data).prepare_data()
