"""Checkpoints never run code in any command, a checkpoint's data config names only the
project's data modules, and the messages for a folder given as a checkpoint and for resuming on
other data. Crafted files create a marker file if anything in them ever runs. The commands run
in this process (helpers.call_tool): the marker shows whether anything ran, in any process."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from helpers import TINY_TRAINING, build, call_tool, compose_config, write_digits
from ssdh_lightning import data
from ssdh_lightning.checkpoints import AtomicCheckpointIO, read_checkpoint
from ssdh_lightning.cli import CONFIG_DIR
from ssdh_lightning.io import file_sha256
from ssdh_lightning.retrieval.index import MANIFEST_FILE
from ssdh_lightning.testing.formats import write_image_folder
from ssdh_lightning.untrusted_configs import DATA_MODULES, check_data_config

REFUSED = "holds objects that are not plain data (posix.system): it was not loaded"


class RunsCode:
    """Unpickled with code allowed, this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.fixture(scope="module")
def checkpoint(trained_run) -> Path:
    return trained_run / "checkpoints" / "last.ckpt"


def real_contents(checkpoint: Path) -> dict:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)


@pytest.fixture(params=["alone", "beside a model"])
def crafted(request, checkpoint, tmp_path) -> tuple[Path, Path]:
    """(a checkpoint holding a ``RunsCode``, its marker file), alone or under an extra key of a
    real checkpoint's contents."""
    marker = tmp_path / "ran.marker"
    contents = {"payload": RunsCode(marker)}
    if request.param == "beside a model":
        contents = real_contents(checkpoint) | contents
    path = tmp_path / "crafted.ckpt"
    torch.save(contents, path)  # the writing side pickles anything
    return path, marker


@pytest.fixture(scope="module")
def index_folder(checkpoint, tmp_path_factory) -> Path:
    """A small index of 20 PNG digits built with the trained run's checkpoint."""
    root = tmp_path_factory.mktemp("safety_index")
    write_digits(root / "images", range(20))
    build(checkpoint, root / "images", root / "index")
    return root / "index"


@contextmanager
def refused(path: Path, marker: Path):
    """The command inside refuses the checkpoint ``path`` by name, and nothing in it ran."""
    with pytest.raises(ValueError, match=re.escape(f"checkpoint {path} {REFUSED}")):
        yield
    assert not marker.exists()


def test_a_real_checkpoint_is_plain_data_and_needs_no_allowed_class(checkpoint):
    assert torch.serialization.get_unsafe_globals_in_checkpoint(checkpoint) == []
    assert read_checkpoint(checkpoint)["hyper_parameters"]["hash_bits"] == 48


def test_lightnings_loader_reads_plain_data_only_whatever_it_asks_for(crafted, checkpoint):
    path, marker = crafted
    loader = AtomicCheckpointIO()
    for weights_only in (None, False, True):
        with pytest.raises(ValueError, match=re.escape(REFUSED)):
            loader.load_checkpoint(path, weights_only=weights_only)
    assert not marker.exists()
    loaded = loader.load_checkpoint(checkpoint, weights_only=False)
    assert loaded.keys() == real_contents(checkpoint).keys()


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("ssdh-eval", []),
        ("ssdh-train", TINY_TRAINING),
        (
            "ssdh-index",
            ["images={images}", "out={out}", "num_workers=0", "trainer.accelerator=cpu"],
        ),
    ],
)
def test_no_command_runs_code_from_a_checkpoint(crafted, tmp_path, tool, args):
    path, marker = crafted
    write_digits(tmp_path / "images", range(5))
    args = [arg.format(images=tmp_path / "images", out=tmp_path / "index") for arg in args]
    with refused(path, marker):
        call_tool(tool, f"ckpt_path={path}", *args, run_dir=tmp_path / "run")
    assert not (tmp_path / "index").exists()


def test_a_grown_index_refuses_another_checkpoint_without_running_it(
    crafted, index_folder, tmp_path
):
    # ssdh-index on an index built with another checkpoint reads this one to say how it differs
    path, marker = crafted
    before = (index_folder / MANIFEST_FILE).read_bytes()
    with refused(path, marker):
        call_tool(
            "ssdh-index",
            f"ckpt_path={path}",
            f"images={index_folder.parent / 'images'}",
            f"out={index_folder}",
            "num_workers=0",
            "trainer.accelerator=cpu",
            run_dir=tmp_path / "run",
        )
    assert (index_folder / MANIFEST_FILE).read_bytes() == before


def test_ssdh_search_runs_no_code_from_the_checkpoint_an_index_names(
    crafted, index_folder, tmp_path
):
    path, marker = crafted
    query = f"query={index_folder.parent / 'images' / '3' / '0003.png'}"
    # the checkpoint given on the command line, or named (with its sha256) by a shared index
    with refused(path, marker):
        call_tool("ssdh-search", f"index={index_folder}", query, f"ckpt_path={path}")

    shared = shutil.copytree(index_folder, tmp_path / "shared_index")
    manifest = json.loads((shared / MANIFEST_FILE).read_text())
    manifest["model"] |= {"checkpoint": str(path), "sha256": file_sha256(path)}
    (shared / MANIFEST_FILE).write_text(json.dumps(manifest))
    with refused(path, marker):
        call_tool("ssdh-search", f"index={shared}", query)


def test_resuming_a_real_checkpoint_loads_it_as_plain_data(checkpoint, tmp_path, caplog):
    # the checkpoint of a finished 2-epoch run: resuming restores it all and trains no more
    with caplog.at_level(logging.INFO):
        call_tool(
            "ssdh-train",
            *TINY_TRAINING,
            "seed=3",
            "baselines=[]",
            f"ckpt_path={checkpoint}",
            run_dir=tmp_path / "run",
        )
    assert f"Restored all states from the checkpoint at {checkpoint}" in caplog.text
    assert (tmp_path / "run" / "metrics.json").is_file()


# --- a checkpoint's data config ---------------------------------------------------------------


def data_config_of(name: str) -> dict:
    cfg = compose_config("train", f"data={name}")
    return OmegaConf.to_container(cfg.data, resolve=True)


@pytest.mark.parametrize("name", sorted(p.stem for p in (Path(CONFIG_DIR) / "data").glob("*.yaml")))
def test_every_data_config_of_the_project_is_accepted(name):
    config = data_config_of(name)
    assert check_data_config(config, "data_config", "checkpoint x.ckpt") == config
    assert config["_target_"] in DATA_MODULES


def test_the_allowed_data_modules_are_the_projects_own():
    for target in DATA_MODULES:
        module, name = target.rsplit(".", 1)
        assert module == "ssdh_lightning.data"
        assert issubclass(getattr(data, name), data.RetrievalDataModule)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"_target_": "builtins.open"}, "data_config._target_"),
        ({"_target_": None}, "data_config._target_"),
        ({"transform": {"_target_": "builtins.open"}}, "data_config.transform._target_"),
        ({"roots": ["a", {"x": {"_target_": "os.system"}}]}, "data_config.roots[1].x._target_"),
    ],
)
def test_a_foreign_or_nested_target_is_refused_naming_its_key(change, key):
    config = data_config_of("digits") | change
    with pytest.raises(ValueError, match="^" + re.escape(f"checkpoint x.ckpt: {key} is ")):
        check_data_config(config, "data_config", "checkpoint x.ckpt")


@pytest.mark.parametrize("config", [None, "digits", ["_target_"]])
def test_a_data_config_that_is_not_a_mapping_is_refused(config):
    with pytest.raises(ValueError, match=r"has no data config .* pass data=NAME"):
        check_data_config(config, "data_config", "checkpoint x.ckpt")


@pytest.mark.parametrize(
    ("nested", "key"),
    [(True, "data_config.transform._target_"), (False, "data_config._target_")],
)
def test_ssdh_eval_builds_nothing_of_a_foreign_data_config(checkpoint, tmp_path, nested, key):
    created = tmp_path / "created.txt"
    opener = {"_target_": "builtins.open", "_args_": [str(created), "w"]}
    contents = real_contents(checkpoint)
    config = contents["hyper_parameters"]["data_config"]
    contents["hyper_parameters"]["data_config"] = (
        config | {"transform": opener} if nested else opener
    )
    path = tmp_path / "foreign_data.ckpt"
    torch.save(contents, path)
    with pytest.raises(ValueError) as error:
        call_tool("ssdh-eval", f"ckpt_path={path}", run_dir=tmp_path / "run")
    assert f"checkpoint {path}: {key} is " in str(error.value)
    assert "it was not built" in str(error.value)
    assert not created.exists()


# --- messages ---------------------------------------------------------------------------------


def test_ssdh_eval_of_a_folder_lists_its_checkpoints(trained_run, tmp_path):
    with pytest.raises(IsADirectoryError) as error:
        call_tool("ssdh-eval", f"ckpt_path={trained_run}", run_dir=tmp_path / "run")
    message = str(error.value)
    assert f"checkpoint {trained_run} is a folder, not a checkpoint file; it holds " in message
    assert str(trained_run / "checkpoints" / "last.ckpt") in message
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(IsADirectoryError) as error:
        call_tool("ssdh-eval", f"ckpt_path={empty}", run_dir=tmp_path / "run")
    assert f"checkpoint {empty} is a folder" in str(error.value)
    assert "it holds no .ckpt file, nor does its checkpoints/" in str(error.value)


def test_resuming_on_other_data_names_both_sides_before_training(checkpoint, tmp_path):
    root = tmp_path / "colour"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 12, 12, 3), dtype=np.uint8)
    write_image_folder(root, images, np.arange(30) % 3, ["a", "b", "c"], ".png")
    with pytest.raises(ValueError) as error:
        call_tool(
            "ssdh-train",
            *TINY_TRAINING,
            f"ckpt_path={checkpoint}",
            "data=folder",
            f"data.root={root}",
            "data.image_size=[12,12]",
            "data.resize=null",
            "data.num_workers=0",
            run_dir=tmp_path / "run",
        )
    assert (
        f"checkpoint {checkpoint} holds a model of 10 classes and 1-channel 8x8 images, but the "
        "data has 3 classes and 3-channel 12x12 images; resume on the data it was trained on"
    ) in str(error.value)
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before training
