"""Image folders: real JPEG and PNG files, bad ones among them, read by the real loaders."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image
from torchvision.datasets import ImageFolder

from helpers import call_tool, compose_config
from ssdh_lightning.data import ImageFolderDataModule
from ssdh_lightning.data.base import Batch
from ssdh_lightning.data.in_memory import InMemoryImages
from ssdh_lightning.images import UnreadableImage, load_image
from ssdh_lightning.images import folder_scan as manifests
from ssdh_lightning.images.skipped import SKIPPED_FILES
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.preprocessing import Preprocessing
from ssdh_lightning.tasks.train import with_model_input
from ssdh_lightning.testing.formats import class_patterns, encode_image, write_image_folder

CATEGORIES = ["cat", "dog", "emu"]
GOOD_PER_CATEGORY = 8
LONG_AGO = time.time() - 3600  # folders older than a cache's doubt about fresh changes
# The three files no decoder can read, and the four that need a conversion to RGB.
UNREADABLE = {"cat/truncated.jpg", "dog/nested/zero_bytes.jpg", "emu/text.jpg"}
CONVERTED = {"cat/cmyk.jpg", "dog/nested/deeper/grey16.png", "emu/palette.png", "emu/rgba.png"}


def age_folders(root: Path) -> None:
    """Date every folder of the tree an hour back, as data written long before a run."""
    for folder in [root, *(path for path in root.rglob("*") if path.is_dir())]:
        os.utime(folder, (LONG_AGO, LONG_AGO))


def colour_image(seed: int, size: tuple[int, int] = (30, 40)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def write_tree(root: Path) -> Path:
    """Good JPEGs and PNGs at several depths, the bad files above, files that are not images."""
    labels = np.repeat(np.arange(len(CATEGORIES)), GOOD_PER_CATEGORY)
    images = class_patterns(len(CATEGORIES), labels, (24, 32, 3), seed=0)
    for path in write_image_folder(root, images, labels, CATEGORIES, ".jpg")[::3]:
        deeper = path.parent / "nested" / "deeper" / path.with_suffix(".png").name
        deeper.parent.mkdir(parents=True, exist_ok=True)
        deeper.write_bytes(encode_image(np.asarray(Image.open(path)), ".png"))
        path.unlink()
    good_jpeg = (root / "cat" / "0000001.jpg").read_bytes()
    (root / "cat" / "truncated.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    (root / "dog" / "nested").mkdir(exist_ok=True)
    (root / "dog" / "nested" / "zero_bytes.jpg").write_bytes(b"")
    (root / "emu" / "text.jpg").write_text("a text file named like an image\n")
    Image.fromarray(colour_image(1)).convert("CMYK").save(root / "cat" / "cmyk.jpg")
    grey16 = (np.arange(30 * 40, dtype=np.uint16).reshape(30, 40) * 50).astype(np.uint16)
    Image.fromarray(grey16).save(root / "dog" / "nested" / "deeper" / "grey16.png")
    Image.fromarray(colour_image(2)).convert("P").save(root / "emu" / "palette.png")
    rgba = np.dstack([colour_image(3), np.full((30, 40), 255, np.uint8)])
    rgba[0, 0, 3] = 0  # one transparent pixel
    Image.fromarray(rgba).save(root / "emu" / "rgba.png")
    (root / "emu" / "notes.txt").write_text("not an image: left out\n")
    (root / ".thumbnails").mkdir()
    (root / ".thumbnails" / "hidden.jpg").write_bytes(good_jpeg)
    age_folders(root)
    return root


@pytest.fixture
def tree(tmp_path) -> Path:
    return write_tree(tmp_path / "photos")


def folder_module(root: Path, **options) -> ImageFolderDataModule:
    """The folder module decoding in its loaders (``decoded_cache_mib=0``) unless told."""
    settings = {
        "image_size": (16, 16),
        "resize": (20, 20),
        "batch_size": 4,
        "seed": 0,
        "decoded_cache_mib": 0,
    }
    module = ImageFolderDataModule(root=root, **{**settings, **options})
    module.setup()
    return module


def relative_paths(module: ImageFolderDataModule, split: str) -> set[str]:
    """The files of a split (``train``, ``query``, ``database``) relative to the root."""
    dataset = getattr(module.files, split)
    return {str(dataset.path_of(int(i)).relative_to(module.root)) for i in dataset.positions}


def test_load_image_converts_cmyk_16_bit_palette_and_transparency(tree):
    cmyk = load_image(tree / "cat" / "cmyk.jpg")
    assert cmyk.mode == "RGB" and cmyk.size == (40, 30)
    grey16 = load_image(tree / "dog" / "nested" / "deeper" / "grey16.png", channels=1)
    expected = (np.arange(30 * 40).reshape(30, 40) * 50).astype(np.uint16) >> 8
    assert np.array_equal(np.asarray(grey16), expected)  # scaled, not clipped to white
    palette = Image.open(tree / "emu" / "palette.png").convert("RGB")
    assert np.array_equal(np.asarray(load_image(tree / "emu" / "palette.png")), palette)
    rgba = np.asarray(load_image(tree / "emu" / "rgba.png"))
    assert tuple(rgba[0, 0]) == (255, 255, 255)  # transparent: white
    assert np.array_equal(rgba[1:], colour_image(3)[1:])  # opaque: unchanged
    assert load_image(tree / "cat" / "0000001.jpg", channels=1).mode == "L"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("cat/truncated.jpg", "truncated"),
        ("dog/nested/zero_bytes.jpg", "cannot identify image file"),
        ("emu/text.jpg", "cannot identify image file"),
    ],
)
def test_undecodable_files_raise_unreadable_image_with_the_reason(tree, name, reason):
    with pytest.raises(UnreadableImage, match=reason) as error:
        load_image(tree / name)
    assert error.value.path == str(tree / name)


def test_scan_lists_images_at_any_depth_with_sizes_and_mtimes(tree):
    manifest = manifests.scan(tree)
    paths = [manifest.relative_path(i) for i in range(len(manifest))]
    assert paths == sorted(paths, key=lambda p: (p.rsplit("/", 1)[0], p))
    assert "dog/nested/deeper/grey16.png" in paths
    assert not [p for p in paths if p.endswith(".txt") or ".thumbnails" in p]
    assert len(paths) == len(CATEGORIES) * GOOD_PER_CATEGORY + len(UNREADABLE | CONVERTED)
    for index, path in enumerate(paths):
        state = os.stat(tree / path)
        assert (manifest.sizes[index], manifest.mtimes_ns[index]) == (
            state.st_size,
            state.st_mtime_ns,
        )
    names, labels = manifest.categories()
    assert names == CATEGORIES
    assert [names[label] for label in labels] == [p.split("/")[0] for p in paths]


def test_classes_and_labels_agree_with_torchvision_image_folder(tmp_path):
    labels = np.arange(12) % 3
    write_image_folder(tmp_path, class_patterns(3, labels, (8, 8, 3), 0), labels, CATEGORIES)
    reference = ImageFolder(str(tmp_path))
    manifest = manifests.scan(tmp_path)
    names, codes = manifest.categories()
    assert names == reference.classes
    ours = [(str(manifest.path(i)), int(codes[i])) for i in range(len(manifest))]
    assert ours == reference.samples


def test_stratified_split_sizes_balance_seeding_and_no_query_in_database(tree):
    module = folder_module(tree, query_fraction=0.25)
    splits = module.files
    assert module.class_names == CATEGORIES
    query, database = relative_paths(module, "query"), relative_paths(module, "database")
    assert not query & database
    assert relative_paths(module, "train") == database
    usable = {p for p in manifest_paths(tree) if p != "dog/nested/zero_bytes.jpg"}
    assert query | database == usable  # undecodable files are found while reading, not here
    per_category = {name: sum(p.startswith(name + "/") for p in usable) for name in CATEGORIES}
    for label, name in enumerate(CATEGORIES):
        assert (splits.query.labels == label).sum() == round(0.25 * per_category[name])
    same = folder_module(tree, query_fraction=0.25)
    other = folder_module(tree, query_fraction=0.25, seed=1)
    assert relative_paths(same, "query") == query
    assert relative_paths(other, "query") != query


def manifest_paths(root: Path) -> set[str]:
    manifest = manifests.scan(root)
    return {manifest.relative_path(i) for i in range(len(manifest))}


def test_train_and_test_folders_give_the_database_and_the_queries(tmp_path):
    labels = np.arange(18) % 3
    images = class_patterns(3, labels, (8, 8, 3), 0)
    write_image_folder(tmp_path / "train", images[:12], labels[:12], CATEGORIES)
    write_image_folder(tmp_path / "test", images[12:], labels[12:], CATEGORIES)
    module = folder_module(tmp_path)
    assert module.class_names == CATEGORIES
    assert all(p.startswith("test/") for p in relative_paths(module, "query"))
    assert len(module.files.query) == 6 and len(module.files.database) == 12
    assert module.files.query.labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_train_and_test_folders_with_other_categories_are_refused(tmp_path):
    labels = np.arange(6) % 3
    images = class_patterns(3, labels, (8, 8, 3), 0)
    write_image_folder(tmp_path / "train", images, labels, CATEGORIES)
    write_image_folder(tmp_path / "test", images, labels, ["cat", "dog", "gnu"])
    with pytest.raises(ValueError, match=r"only in train/: \['emu'\], only in test/: \['gnu'\]"):
        folder_module(tmp_path)


def test_an_empty_category_folder_is_named(tree):
    (tree / "fox" / "empty_inside").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"1 category folder\(s\) in .* hold no image .*: fox"):
        folder_module(tree)


def test_a_missing_root_and_an_empty_root_are_refused_and_loose_images_have_no_labels(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"is not a folder; point data\.root at"):
        folder_module(tmp_path / "missing")
    (tmp_path / "empty" / "category").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no image files \(\.jpg, .*\) under"):
        folder_module(tmp_path / "empty")
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "photo.jpg").write_bytes(encode_image(colour_image(0)))
    # data without labels: for the unsupervised methods (test_method_state.py)
    assert not folder_module(loose).labelled


def test_the_manifest_cache_is_reused_while_the_folders_are_unchanged(tree, caplog):
    caplog.set_level(logging.INFO, logger="ssdh_lightning.images.folder_scan")
    first = folder_module(tree)
    cache = tree.with_name(tree.name + ".ssdh-manifest.npz")
    assert cache.is_file() and "scanned" in caplog.text
    caplog.clear()
    second = folder_module(tree)
    assert "from the cache" in caplog.text and "scanned" not in caplog.text
    assert relative_paths(second, "database") == relative_paths(first, "database")


@pytest.mark.parametrize(
    "change",
    [
        lambda tree: (tree / "cat" / "new.jpg").write_bytes(encode_image(colour_image(5))),
        lambda tree: (tree / "dog" / "nested" / "deeper" / "grey16.png").unlink(),
        lambda tree: (tree / "emu" / "rgba.png").rename(tree / "emu" / "renamed.png"),
        lambda tree: write_image_folder(tree, [colour_image(6)], [0], ["fox"]),
    ],
    ids=["file added", "file removed deep down", "file renamed", "category added"],
)
def test_the_manifest_cache_is_dropped_when_a_folder_changes(tree, change):
    before = all_files(folder_module(tree))
    cache = tree.with_name(tree.name + ".ssdh-manifest.npz")
    assert manifests.load(cache, tree) is not None
    change(tree)
    assert manifests.load(cache, tree) is None
    after = all_files(folder_module(tree))
    assert after != before
    assert after == manifest_paths(tree) - {"dog/nested/zero_bytes.jpg"}
    assert manifests.load(cache, tree) is None  # folders changed a moment ago are not trusted


def all_files(module: ImageFolderDataModule) -> set[str]:
    return relative_paths(module, "query") | relative_paths(module, "database")


def test_the_manifest_cache_goes_to_the_run_folder_when_it_cannot_sit_by_the_data(tree, tmp_path):
    tree.with_name(tree.name + ".ssdh-manifest.npz").mkdir()  # a folder in the cache's place
    folder_module(tree, report_dir=tmp_path / "run")
    assert manifests.load(tmp_path / "run" / "manifest.npz", tree) is not None
    folder_module(tree, manifest_cache=None, report_dir=tmp_path / "run_without_cache")
    assert not (tmp_path / "run_without_cache" / "manifest.npz").exists()


def read_all(module: ImageFolderDataModule, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """Every batch of ``loader`` as the model receives it, outside a trainer."""
    batches = [module.on_after_batch_transfer(batch, 0) for batch in loader]
    return torch.cat([images for images, _, _ in batches]), torch.cat(
        [labels for _, labels, _ in batches]
    )


def test_bad_files_are_skipped_counted_listed_and_reported_once(tree, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    module = folder_module(tree, report_dir=tmp_path / "run", query_fraction=0.25)
    assert "1 more file(s) could not be read" in caplog.text  # the empty file, at the scan
    caplog.clear()
    images, _ = read_all(module, module.train_dataloader())
    unreadable_in_database = relative_paths(module, "train") & UNREADABLE
    assert len(images) == len(module.files.train) - len(unreadable_in_database)
    assert images.shape[1:] == (3, 16, 16)  # outside a fit: the evaluation view, centre crop
    read_all(module, module.val_dataloader()[0])
    assert not caplog.records  # nothing is said file by file
    module.skipped.report("training epoch 0")
    module.skipped.report("validation")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    expected = "2 more file(s) could not be read and were skipped by the end of training epoch 0"
    assert record.getMessage().startswith(f"{expected} (3 in all); listed in ")
    listed = (tmp_path / "run" / SKIPPED_FILES).read_text().splitlines()
    assert listed[0] == "path\treason"
    assert {str(Path(line.split("\t")[0]).relative_to(tree)) for line in listed[1:]} == UNREADABLE


def test_a_batch_of_unreadable_files_only_is_an_empty_batch_of_the_right_shape(tree):
    module = folder_module(tree, eval_batch_size=1, query_fraction=0.25)
    loaders = module.val_dataloader()
    batches = [module.on_after_batch_transfer(b, 0) for loader in loaders for b in loader]
    empty = [images for images, labels, _ in batches if len(labels) == 0]
    assert len(empty) == len(UNREADABLE) - 1  # the empty file never reaches a loader
    assert all(images.shape == (0, 3, 16, 16) for images in empty)  # the centre crop


def test_workers_decode_the_same_images_and_report_the_same_skips(tree):
    serial = folder_module(tree, query_fraction=0.25)
    parallel = folder_module(tree, query_fraction=0.25, num_workers=2)
    for module in (serial, parallel):
        images, labels = read_all(module, module.val_dataloader()[1])
        module.decoded = (images, labels)
    assert torch.equal(serial.decoded[0], parallel.decoded[0])
    assert torch.equal(serial.decoded[1], parallel.decoded[1])
    assert serial.skipped.reasons == parallel.skipped.reasons


def test_images_that_fit_are_decoded_once_into_memory_as_the_workers_decode_them(tree, tmp_path):
    from_files = folder_module(tree, query_fraction=0.25)
    in_memory = folder_module(
        tree, query_fraction=0.25, decoded_cache_mib=1, num_workers=1, report_dir=tmp_path
    )
    # decoded at setup: the unreadable files are listed before any epoch
    listed = (tmp_path / SKIPPED_FILES).read_text().splitlines()[1:]
    assert {str(Path(line.split("\t")[0]).relative_to(tree)) for line in listed} == UNREADABLE
    assert in_memory.splits.train is in_memory.splits.database  # one copy of the database
    for loader in in_memory.val_dataloader():
        assert loader.num_workers == 0  # sliced from memory
    expected = [read_all(from_files, loader) for loader in from_files.val_dataloader()]
    for path in tree.rglob("*"):  # nothing is read from the files again
        if path.is_file():
            path.unlink()
    got = [read_all(in_memory, loader) for loader in in_memory.val_dataloader()]
    for (images, labels), (cached_images, cached_labels) in zip(expected, got, strict=True):
        assert torch.equal(images, cached_images) and torch.equal(labels, cached_labels)


@pytest.mark.parametrize(
    ("overrides", "image_size", "resize"),
    [
        (["model=alexnet"], [227, 227], [256, 256]),  # the paper's AlexNet input
        (["model=resnet50", "data.resize=[300,300]"], [227, 227], [300, 300]),
        (["model=vgg16", "data.image_size=[128,128]"], [128, 128], None),  # explicit wins
        ([], None, None),  # the small CNN: the data module's own (64x64 for image files)
    ],
)
def test_the_input_size_follows_the_model_unless_given(tree, overrides, image_size, resize):
    cfg = compose_config("train", "data=folder", f"data.root={tree}", *overrides)
    data = with_model_input(cfg.data, cfg.model.backbone)
    assert data.image_size == image_size and data.resize == resize
    if image_size is None:
        module = instantiate(data, num_workers=0, manifest_cache=None)
        module.setup()
        assert module.preprocessing.image_size == (64, 64) and module.preprocessing.resize is None


def test_images_too_large_for_the_cache_are_decoded_by_the_workers(tree, caplog):
    caplog.set_level(logging.INFO)
    module = folder_module(tree, query_fraction=0.25, decoded_cache_mib=0.01)
    assert "more than data.decoded_cache_mib=0.01" in caplog.text
    assert not isinstance(module.splits.database, InMemoryImages)


def test_ssdh_train_and_eval_on_a_folder_report_bad_files_in_their_run_folders(
    tree, tmp_path, caplog
):
    run_dir = tmp_path / "train"
    options = [
        "data=folder",
        f"data.root={tree}",
        "data.image_size=[16,16]",
        "data.resize=[20,20]",
        "data.query_fraction=0.25",
        "data.num_workers=0",
        "data.batch_size=8",
    ]
    caplog.set_level(logging.INFO)  # what the command's console shows
    call_tool(
        "ssdh-train",
        *options,
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        run_dir=run_dir,
    )
    assert json.loads((run_dir / "class_names.json").read_text()) == CATEGORIES
    listed = (run_dir / SKIPPED_FILES).read_text()
    assert all(str(tree / name) in listed for name in UNREADABLE)
    reports = [line for line in caplog.messages if "could not be read" in line]
    assert len(reports) == 2, caplog.text  # once at the scan, once after the first epoch
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    preprocessing = checkpoint["hyper_parameters"]["preprocessing"]
    assert list(preprocessing["image_size"]) == [16, 16] and list(preprocessing["resize"]) == [
        20,
        20,
    ]
    eval_dir = tmp_path / "eval"
    call_tool(
        "ssdh-eval",
        f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
        "trainer.enable_progress_bar=false",
        run_dir=eval_dir,
    )
    assert (eval_dir / SKIPPED_FILES).is_file()
    assert (eval_dir / "metrics.json").is_file()


def test_the_model_skips_a_batch_in_which_every_file_was_unreadable():
    preprocessing = Preprocessing(3, (16, 16), (0.5,) * 3, (0.5,) * 3)
    model = SSDHModule(num_classes=3, preprocessing=preprocessing.as_dict())
    nothing = torch.empty(0, dtype=torch.int64)
    empty = Batch(torch.empty((0, 3, 16, 16), dtype=torch.uint8), nothing, nothing)
    assert model.training_step(empty, 0) is None  # Lightning skips the optimiser step
    model.validation_step(empty, 0, dataloader_idx=0)
    assert model.query_set.codes == []
