"""State beyond the batch and training without labels: the rows a method keeps of every training
item (which items they are, on every split; gathered across DDP processes), the codes a database
gets from a method that learned them (in validation, ssdh-eval and an index), a frozen backbone,
and data without labels."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from sklearn.datasets import load_digits

from helpers import build, run_tool, write_digits
from ssdh_lightning.checkpoints import load_module, read_checkpoint
from ssdh_lightning.cli import CONFIG_DIR
from ssdh_lightning.data import DigitsDataModule, ImageFolderDataModule, ListFileDataModule
from ssdh_lightning.data.splits import SAMPLED_PROTOCOLS, sampled_split
from ssdh_lightning.indexing.encoding import encode_files
from ssdh_lightning.methods import METHODS
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.retrieval import pack_codes
from ssdh_lightning.run_files import METRICS_FILE, RUN_FILE
from ssdh_lightning.tasks import evaluate, objective, train
from ssdh_lightning.testing.formats import encode_image

TINY_MODEL = [
    "model.hash_bits=16",
    "model.backbone.widths=[8,16]",
    "model.backbone.feature_dim=32",
    "trainer.enable_progress_bar=false",
    "baselines=[]",
]
FOLDER_DATA = ["data=folder", "data.image_size=[8,8]", "data.num_workers=0"]


def compose_config(name: str, *overrides: str):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose(name, overrides=list(overrides))


def digits_module(method: dict, datamodule, **options) -> SSDHModule:
    torch.manual_seed(0)
    options.setdefault("train_size", datamodule.train_size)
    return SSDHModule(
        hash_bits=16,
        num_classes=datamodule.num_classes,
        preprocessing=datamodule.preprocessing.as_dict(),
        backbone={"name": "small_cnn", "widths": [8, 16], "feature_dim": 32},
        latent_init_std=0.05,
        optimizer={"lr": 0.01},
        method=method,
        **options,
    )


@pytest.fixture(scope="module")
def digits() -> DigitsDataModule:
    datamodule = DigitsDataModule(seed=0)
    datamodule.setup()
    return datamodule


# --- which database items are training items --------------------------------------------------


def test_the_paper_split_trains_on_its_whole_database(digits):
    assert np.array_equal(digits.database_training_positions(), np.arange(1438))
    assert digits.train_size == 1438


def test_the_cnnh_split_names_the_training_item_of_each_database_item():
    labels = np.repeat(np.arange(10), 700)
    split = sampled_split(labels, 0, SAMPLED_PROTOCOLS["cnnh"])
    positions = split.database_training_positions()
    train = {item: k for k, item in enumerate(split.train.tolist())}
    for j, item in enumerate(split.database.tolist()):
        assert positions[j] == train.get(item, -1)
    assert (positions >= 0).sum() == 5000


def write_list_data(root: Path, unreadable: bool = False) -> list[str]:
    """Digits as PNG files named by three lists: the training items are every other database
    item; the first training item is a file no decoder reads when ``unreadable``."""
    target = load_digits().target
    images = root / "images"
    paths = [path.relative_to(root) for path in write_digits(images, range(40))]
    if unreadable:
        (root / paths[0]).write_bytes(b"not a png")

    def line(path: Path) -> str:
        digit = target[int(path.stem)]
        return f"{path} {' '.join('1' if c == digit else '0' for c in range(10))}\n"

    database, train, test = paths[:30], paths[:30:2], paths[30:]
    for name, listed in (("database.txt", database), ("train.txt", train), ("test.txt", test)):
        (root / name).write_text("".join(map(line, listed)))
    return [str(path) for path in database]


@pytest.mark.parametrize("decoded_cache_mib", [2048, 0], ids=["in-memory", "from-files"])
def test_list_files_name_the_training_items_of_the_database_by_path(tmp_path, decoded_cache_mib):
    write_list_data(tmp_path, unreadable=True)
    data = ListFileDataModule(
        root=tmp_path, image_size=(8, 8), num_workers=0, decoded_cache_mib=decoded_cache_mib
    )
    data.setup()
    positions = data.database_training_positions()
    train, database = data.splits.train, data.splits.database
    # every database image that is a training image is the same image (or the same unreadable
    # file, served from the files)
    kept = positions >= 0
    for j in np.flatnonzero(kept):
        assert str(database[j][0]) == str(train[positions[j]][0])
    if decoded_cache_mib:  # the unreadable file is left out of both sets: 29 and 14 remain
        assert len(database) == 29 and len(train) == 14 and kept.sum() == 14
    else:  # served from the files: 30 and 15, the unreadable one skipped in each batch
        assert len(database) == 30 and kept.sum() == 15
    assert data.training_items().keys.unique().numel() == data.train_size


# --- per-item state, learned database codes ---------------------------------------------------


def test_a_method_that_keeps_a_row_per_training_item_needs_the_training_set(digits):
    with pytest.raises(ValueError, match=r"method=adsh keeps a row per training item.*train_size"):
        digits_module({"name": "adsh"}, digits, train_size=None)
    module = digits_module({"name": "adsh"}, digits)
    labels, keys = digits.training_items()
    module.method.bind_training_set(labels, keys)
    with pytest.raises(ValueError, match=r"keeps 1438 rows.*this training set has 1437"):
        module.method.bind_training_set(labels[1:], keys[1:])
    with pytest.raises(ValueError, match=r"other labels .*the data it was trained on"):
        module.method.bind_training_set(labels.roll(1), keys)


@pytest.mark.slow
def test_memory_pairs_gather_the_rows_of_every_ddp_process(tmp_path):
    """Two processes (DDP, gloo on the CPU) each see half the training set; both halves' rows
    reach the memory of each, so the checkpoint holds a row for every training item."""
    run_dir = tmp_path / "run"
    run_tool(
        "ssdh-train",
        "method=dpsh",
        "method.pairs=memory",
        *TINY_MODEL,
        "trainer.max_epochs=1",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    state = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["state_dict"]
    written = state["method.memory.relaxed"].abs().sum(dim=1) > 0
    assert written.all(), f"{int((~written).sum())} of {len(written)} rows never written"


def test_adsh_database_codes_are_learned_in_validation_ssdh_eval_and_the_index(tmp_path):
    images = tmp_path / "images"
    write_digits(images, range(120))
    run_dir = tmp_path / "run"
    overrides = [*FOLDER_DATA, f"data.root={images}", *TINY_MODEL, "trainer.max_epochs=1"]
    trained = train(compose_config("train", "method=adsh", *overrides, f"output_dir={run_dir}"))
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    model = load_module(checkpoint)
    learned = model.method.database > 0

    # ssdh-eval on the checkpoint's own data scores the learned codes, as training did
    evaluated = evaluate(
        compose_config("eval", f"ckpt_path={checkpoint}", f"output_dir={tmp_path / 'eval'}")
    )
    for key in ("bcs/map@all", "hds/map@all", "bcs/precision_r2"):
        assert evaluated[key] == pytest.approx(trained[key], abs=1e-9), key

    # an index of the same folder, and of a new file (a copy of a training image) added since
    data = ImageFolderDataModule(root=images, image_size=(8, 8), num_workers=0, seed=0)
    data.setup()
    train_files = [data.files.train.path_of(int(p)) for p in data.files.train.positions]
    train_files = [train_files[k] for k in data.kept_train]
    (images / "new.png").write_bytes(train_files[0].read_bytes())
    index = build(checkpoint, images, tmp_path / "index")
    paths = [images / path for path in index.paths.tolist()]
    network = encode_files(model, paths).codes
    position = {path: k for k, path in enumerate(train_files)}
    expected = np.stack(
        [
            pack_codes(learned[position[path]][None]).bytes[0] if path in position else code
            for path, code in zip(paths, network, strict=True)
        ]
    )
    assert np.array_equal(np.asarray(index.codes.bytes), expected)
    assert sum(path in position for path in paths) == len(train_files) == model.hparams.train_size
    assert images / "new.png" in paths and images / "new.png" not in position
    # the learned codes are not the network's: an index of network codes would differ
    assert not np.array_equal(np.asarray(index.codes.bytes), network)


# --- a frozen backbone ----------------------------------------------------------------------


def test_a_frozen_backbone_gets_no_update_and_keeps_its_batch_norm_statistics(digits):
    module = digits_module({"name": "bihalf"}, digits)  # frozen: the method's own choice
    backbone = {k: v.clone() for k, v in module.backbone.state_dict().items()}
    latent = module.head.latent.weight.clone()
    optimizer = module.configure_optimizers()
    module.train()
    assert not module.backbone.training and module.head.training
    for _ in range(3):
        optimizer.zero_grad()
        module.method_loss(digits.splits.train.__getitems__(list(range(128)))).loss.backward()
        optimizer.step()
    for name, value in module.backbone.state_dict().items():  # weights and running statistics
        assert torch.equal(value, backbone[name]), name
    assert not torch.equal(module.head.latent.weight, latent)
    trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not trained & {id(p) for p in module.backbone.parameters()}
    with pytest.raises(ValueError, match=r"model.freeze_backbone='yes': must be true, false or"):
        digits_module({"name": "bihalf"}, digits, freeze_backbone="yes")


@pytest.mark.parametrize("method", list(METHODS))
def test_the_backbone_trains_as_the_methods_authors_unless_set(method, digits):
    """model.freeze_backbone null: frozen where the authors train the hash layer alone (bihalf,
    greedyhash_u), trained for the rest; true or false wins, and run.json's method_changes names
    it where it departs from the method's own choice."""
    frozen_by_authors = method in ("bihalf", "greedyhash_u")
    config = {"name": method}
    module = digits_module(config, digits)
    assert module.freezes_backbone is frozen_by_authors
    assert all(p.requires_grad is not frozen_by_authors for p in module.backbone.parameters())
    assert module.method_setting_changes == {}
    for freeze in (True, False):
        module = digits_module(config, digits, freeze_backbone=freeze)
        assert module.freezes_backbone is freeze
        changed = {"freeze_backbone": freeze} if freeze is not frozen_by_authors else {}
        assert module.method_setting_changes == changed


# --- data without labels ---------------------------------------------------------------------


def write_unlabelled_lists(root: Path) -> None:
    """Lists of paths alone: data without labels."""
    images = root / "flat"
    images.mkdir(parents=True)
    target = load_digits().target
    names = []
    for number in range(60):
        pixels = np.round(load_digits().images[number] * 255 / 16).astype(np.uint8)
        (images / f"{number:04d}_{target[number]}.png").write_bytes(encode_image(pixels, ".png"))
        names.append(f"flat/{number:04d}_{target[number]}.png\n")
    for name in ("train.txt", "test.txt", "database.txt"):
        (root / name).write_text("".join(names))


def test_an_unsupervised_method_trains_on_lists_without_labels_and_writes_its_run(tmp_path, caplog):
    data = tmp_path / "data"
    write_unlabelled_lists(data)
    run_dir = tmp_path / "run"
    overrides = ["data=list", f"data.root={data}", "data.image_size=[8,8]", "data.num_workers=0"]
    cfg = compose_config(
        "train",
        "method=greedyhash_u",
        *overrides,
        *TINY_MODEL,
        "trainer.max_epochs=1",
        f"output_dir={run_dir}",
    )
    with caplog.at_level(logging.WARNING):
        metrics = train(cfg)
    assert metrics == {} and math.isnan(objective(cfg, metrics))
    assert "the data has no labels" in caplog.text and "retrieval is not scored" in caplog.text
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert json.loads((run_dir / METRICS_FILE).read_text()) == {}
    assert json.loads((run_dir / RUN_FILE).read_text())["method"] == "greedyhash_u"
    # a method that learns from labels stops before training, naming those that need none
    with pytest.raises(ValueError, match=r"method=lin2015 learns from labels.*greedyhash_u"):
        train(compose_config("train", *overrides, *TINY_MODEL, f"output_dir={tmp_path / 'x'}"))

    # the checkpoint scores on labelled images of the same kind
    labelled = tmp_path / "labelled"
    write_digits(labelled, range(100))
    evaluated = evaluate(
        compose_config(
            "eval",
            f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
            *FOLDER_DATA,
            f"data.root={labelled}",
            f"output_dir={tmp_path / 'eval'}",
        )
    )
    assert 0 < evaluated["bcs/map@all"] <= 1
    with pytest.raises(ValueError, match=r"has no labels, so retrieval cannot be scored"):
        evaluate(
            compose_config(
                "eval",
                f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
                f"output_dir={tmp_path / 'eval2'}",
            )
        )


def test_a_folder_of_loose_images_is_data_without_labels(tmp_path):
    for number in range(12):
        image = np.full((8, 8), number * 20, dtype=np.uint8)
        (tmp_path / f"{number}.png").write_bytes(encode_image(image, ".png"))
    data = ImageFolderDataModule(root=tmp_path, image_size=(8, 8), num_workers=0)
    data.setup()
    assert not data.labelled and data.class_names == [] and data.train_size == 12
    assert data.splits.train.labels.tolist() == [-1] * 12 and data.val_dataloader() == []


def test_a_list_mixing_lines_with_and_without_labels_is_refused_by_line(tmp_path):
    write_unlabelled_lists(tmp_path)
    lines = (tmp_path / "train.txt").read_text().splitlines(keepends=True)
    lines[3] = lines[3].strip() + " 0 1 0\n"
    (tmp_path / "train.txt").write_text("".join(lines))
    with pytest.raises(ValueError, match=r"train.txt:4: 3 labels, but the first line has none"):
        ListFileDataModule(root=tmp_path, image_size=(8, 8), num_workers=0).setup()
