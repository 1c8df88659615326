"""Configs from files are data: a checkpoint's hyper-parameters and data config are never
resolved nor instantiated by Hydra, and the numbers that size a model are checked against the
checkpoint's own tensors before anything is built."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from helpers import compose_config
from ssdh_lightning.checkpoints import load_module, read_checkpoint
from ssdh_lightning.config_checks import check_eval_config, check_train_config
from ssdh_lightning.data import DigitsDataModule, ImageFolderDataModule
from ssdh_lightning.data.base import available_cpus
from ssdh_lightning.data.required_files import DataFilesMissing
from ssdh_lightning.run_files import CLASS_NAMES_FILE
from ssdh_lightning.tasks import evaluate, index, search, train
from ssdh_lightning.untrusted_configs import (
    DATA_MODULES,
    MAX_IMAGE_SIDE,
    build_data_module,
    check_plain,
    settings_of,
)

SOURCE = "checkpoint x.ckpt"


@pytest.fixture(scope="module")
def checkpoint(trained_run) -> Path:
    return trained_run / "checkpoints" / "last.ckpt"


def contents(checkpoint: Path) -> dict:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)


def crafted(checkpoint: Path, path: Path, change) -> Path:
    """A copy of the real checkpoint at ``path`` with ``change(contents)`` applied."""
    changed = contents(checkpoint)
    change(changed)
    torch.save(changed, path)
    return path


def set_at(keys: tuple, value):
    """A change that sets ``hyper_parameters[keys[0]][keys[1]]... = value``."""

    def change(checkpoint: dict) -> None:
        target = checkpoint["hyper_parameters"]
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


def evaluate_config(path: Path, run_dir: Path, *overrides: str):
    return compose_config("eval", f"ckpt_path={path}", f"output_dir={run_dir}", *overrides)


# --- interpolations are never resolved --------------------------------------------------------


def test_ssdh_eval_of_a_checkpoint_whose_data_config_calls_open_leaves_the_file_whole(
    checkpoint, tmp_path
):
    # The case: resolved, this value became a nested _target_ that truncated the file.
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    payload = f"${{oc.create:${{oc.decode:'{{_target_: builtins.open, _args_: [{victim}, w]}}'}}}}"
    path = crafted(checkpoint, tmp_path / "crafted.ckpt", set_at(("data_config", "seed"), payload))
    with pytest.raises(ValueError) as error:
        evaluate(evaluate_config(path, tmp_path / "run"))
    assert f"checkpoint {path}: hyper_parameters.data_config.seed holds an interpolation" in str(
        error.value
    )
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "run" / CLASS_NAMES_FILE).exists()


def test_an_environment_variable_never_reaches_a_message(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("SSDH_TEST_SECRET", "hunter2-secret")
    payload = "/data/${oc.env:SSDH_TEST_SECRET}"
    path = crafted(checkpoint, tmp_path / "env.ckpt", set_at(("data_config", "root"), payload))
    with pytest.raises(ValueError) as error:
        evaluate(evaluate_config(path, tmp_path / "run"))
    assert "hyper_parameters.data_config.root holds an interpolation" in str(error.value)
    assert "hunter2-secret" not in str(error.value)


@pytest.mark.parametrize(
    "keys",
    [
        ("data_config", "batch_size"),
        ("backbone", "name"),
        ("method", "_target_"),
        ("preprocessing", "mean"),
        ("class_names",),
    ],
)
def test_an_interpolation_anywhere_in_the_hyper_parameters_is_refused_naming_its_key(
    checkpoint, tmp_path, keys
):
    path = crafted(checkpoint, tmp_path / "x.ckpt", set_at(keys, ["ok", "${oc.env:HOME}"]))
    key = "hyper_parameters." + ".".join(keys) + "[1]"
    with pytest.raises(ValueError, match="^" + re.escape(f"checkpoint {path}: {key} holds an")):
        read_checkpoint(path)


def test_a_key_with_an_interpolation_or_a_value_that_is_not_plain_is_refused():
    with pytest.raises(ValueError, match=r"data\.a has the key '\$\{x\}', not a plain name"):
        check_plain({"a": {"${x}": 1}}, "data", SOURCE, "fix")
    with pytest.raises(ValueError, match=r"data\.a\[0\] is a Tensor, not plain data"):
        check_plain({"a": [torch.zeros(1)]}, "data", SOURCE, "fix")
    deep: list = []
    for _ in range(100_000):  # deeper than Python's recursion limit
        deep = [deep]
    check_plain(deep, "data", SOURCE, "fix")


# --- the data module is built directly --------------------------------------------------------


def test_a_data_config_builds_its_module_without_hydra(tmp_path):
    config = {"_target_": "ssdh_lightning.data.DigitsDataModule", "query_fraction": 0.3}
    module = build_data_module(config, "data_config", SOURCE, tmp_path)
    assert type(module) is DigitsDataModule
    assert module.query_fraction == 0.3 and module.report_dir == tmp_path


def test_a_data_modules_settings_are_those_its_signature_passes_on():
    assert settings_of(ImageFolderDataModule) == {
        "root",
        "query_fraction",
        "manifest_cache",
        "image_size",
        "resize",
        "mirror",
        "normalization",
        "decoded_cache_mib",
        "batch_size",
        "eval_batch_size",
        "num_workers",
        "seed",
        "drop_last",
    }
    for cls in DATA_MODULES.values():
        assert "report_dir" not in settings_of(cls)  # the run's, given by the task


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"transform": 1}, "data_config.transform is not a setting of DigitsDataModule (it takes"),
        ({"report_dir": "/etc"}, "data_config.report_dir is not a setting of DigitsDataModule"),
        ({"batch_size": 0}, "data_config cannot build DigitsDataModule: data.batch_size must be"),
    ],
)
def test_a_setting_the_module_does_not_take_or_refuses_is_named_with_its_file(
    tmp_path, change, message
):
    config = {"_target_": "ssdh_lightning.data.DigitsDataModule", **change}
    with pytest.raises(ValueError, match="^" + re.escape(f"{SOURCE}: {message}")):
        build_data_module(config, "data_config", SOURCE, tmp_path)


def test_a_data_config_may_not_choose_where_files_are_written(tmp_path):
    config = {"_target_": "ssdh_lightning.data.ImageFolderDataModule", "root": str(tmp_path)}
    for allowed in ("auto", None):
        build_data_module(config | {"manifest_cache": allowed}, "data_config", SOURCE, tmp_path)
    bad = config | {"manifest_cache": str(tmp_path / "elsewhere.npz")}
    with pytest.raises(ValueError, match=r"data_config\.manifest_cache is .*auto or none only"):
        build_data_module(bad, "data_config", SOURCE, tmp_path)


def test_a_data_config_from_a_file_never_downloads_nor_crowds_the_cpus(tmp_path, caplog):
    config = {
        "_target_": "ssdh_lightning.data.MNISTDataModule",
        "root": str(tmp_path / "elsewhere"),
        "download": True,
        "num_workers": 100_000,
    }
    with caplog.at_level("INFO"):
        module = build_data_module(config, "data_config", SOURCE, tmp_path)
    with pytest.raises(DataFilesMissing):
        module.prepare_data()
    assert not (tmp_path / "elsewhere").exists()  # nothing fetched, nothing written there
    assert "data_config.download is ignored" in caplog.text
    assert f"num_workers 100000 lowered to this machine's {available_cpus()} CPUs" in caplog.text
    module = build_data_module(
        {"_target_": "ssdh_lightning.data.DigitsDataModule", "num_workers": 100_000},
        "data_config",
        SOURCE,
        tmp_path,
    )
    assert module.num_workers == available_cpus()


def test_a_bad_training_seed_in_the_data_config_is_named(checkpoint, tmp_path):
    path = crafted(checkpoint, tmp_path / "seed.ckpt", set_at(("data_config", "seed"), "abc"))
    with pytest.raises(ValueError, match=re.escape(f"checkpoint {path}: data_config.seed=abc")):
        evaluate(evaluate_config(path, tmp_path / "run"))
    assert not (tmp_path / "run" / CLASS_NAMES_FILE).exists()


# --- numbers that size a model are checked against its tensors ------------------------------


def without_classifier(checkpoint: dict) -> None:
    for name in ("head.classifier.weight", "head.classifier.bias"):
        del checkpoint["state_dict"][name]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            set_at(("hash_bits",), 2_000_000),
            "hyper_parameters.hash_bits is 2000000, but its latent layer head.latent.weight "
            "has 48 rows",
        ),
        (
            set_at(("num_classes",), 10**9),
            "hyper_parameters.num_classes is 1000000000, but its classifier "
            "head.classifier.weight has 10 rows",
        ),
        (
            set_at(("class_names",), ["a", "b"]),
            "hyper_parameters.num_classes is 10, but class_names is not a list of as many names",
        ),
        (
            set_at(("preprocessing", "image_size"), [100_000, 100_000]),
            "hyper_parameters.preprocessing.image_size is [100000, 100000]; a model's images are "
            f"at most {MAX_IMAGE_SIDE} pixels a side",
        ),
        (
            set_at(("preprocessing", "image_size"), [32, 32]),
            "backbone.fc.1.weight has shape [256, 1024], but its hyper-parameters build "
            "[256, 4096]",
        ),
        (
            set_at(("backbone", "feature_dim"), 10**8),
            "backbone.fc.1.weight has shape [256, 1024], but its hyper-parameters build "
            "[100000000, 1024]",
        ),
        (
            set_at(("backbone", "widths"), [32, 10**6]),
            "backbone.convolutions.4.weight has shape [64, 32, 3, 3], but its hyper-parameters "
            "build [1000000, 32, 3, 3]",
        ),
        (
            set_at(("method",), {"_target_": "ssdh_lightning.methods.CSQ"}),
            "its state dict lacks ['method.centres', 'method.tie_centre'] (2 in all)",
        ),
        (without_classifier, "its state dict lacks ['head.classifier.bias', 'head.classifier"),
        (set_at(("dropout",), 2), "its hyper-parameters are refused (model.dropout=2: must be"),
        (set_at(("extra",), 1), "hyper_parameters holds ['extra'], not settings of the model"),
    ],
)
def test_a_checkpoint_whose_numbers_its_tensors_contradict_builds_nothing(
    checkpoint, tmp_path, change, message
):
    path = crafted(checkpoint, tmp_path / "x.ckpt", change)
    with pytest.raises(ValueError) as error:
        load_module(path)
    assert str(error.value).startswith(f"checkpoint {path}: {message}")
    assert str(error.value).endswith("was built; use a checkpoint that ssdh-train wrote")


def test_a_csq_checkpoint_of_a_hundred_thousand_classes_is_checked_on_its_centres(
    checkpoint, tmp_path
):
    # CSQ has no classifier: num_classes sizes its centres, which the meta build compares
    def csq(checkpoint: dict) -> None:
        hparams, state = checkpoint["hyper_parameters"], checkpoint["state_dict"]
        hparams.update(method={"_target_": "ssdh_lightning.methods.CSQ"}, class_names=None)
        hparams["num_classes"] = 100_000
        without_classifier(checkpoint)
        state["method.centres"] = torch.ones(10, 48)
        state["method.tie_centre"] = torch.ones(48)

    path = crafted(checkpoint, tmp_path / "csq.ckpt", csq)
    with pytest.raises(ValueError, match=re.escape("method.centres has shape [10, 48], but its")):
        load_module(path)


def test_the_real_checkpoint_loads_as_it_was_trained(checkpoint):
    module = load_module(checkpoint)
    state = contents(checkpoint)["state_dict"]
    assert all(torch.equal(module.state_dict()[name], tensor) for name, tensor in state.items())


# --- config values checked before any data is read --------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("retrieval.hds_threshold=-1", "retrieval.hds_threshold must be an integer >= 0, got -1"),
        ("retrieval.hds_pool_size=0", "retrieval.hds_pool_size must be an integer >= 1, got 0"),
        ("retrieval.radius=-2", "retrieval.radius must be an integer >= 0, got -2"),
        ("retrieval.modes=[bcs,xyz]", "retrieval.modes must be distinct names among"),
        ("+retrieval.pool=3", "unknown retrieval keys ['pool']; allowed: ['modes', 'map_at'"),
        ("trainer.devices=0", "trainer.devices=0: must be a number of devices >= 1, -1 (all)"),
        ("trainer.devices=[]", "trainer.devices=[]: must be a number of devices"),
        ("trainer.devices=-2", "trainer.devices=-2: must be a number of devices"),
        ("trainer.num_nodes=0", "trainer.num_nodes=0: must be a positive integer"),
    ],
)
def test_train_and_eval_name_a_bad_retrieval_or_trainer_value_with_its_group(
    tmp_path, override, message
):
    cfg = compose_config("train", override, f"output_dir={tmp_path}")
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        train(cfg)
    assert not (tmp_path / CLASS_NAMES_FILE).exists()  # refused before the data was loaded
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        check_eval_config(compose_config("eval", "ckpt_path=x", override))


def test_both_hds_pools_are_named_with_their_group():
    cfg = compose_config("train", "retrieval.hds_threshold=3", "retrieval.hds_pool_size=10")
    with pytest.raises(ValueError, match=r"^retrieval\.hds_threshold=3 and hds_pool_size=10: "):
        check_train_config(cfg)


@pytest.mark.parametrize("devices", ["auto", "-1", "1", "[0]", "[0,1]", "'0,1'"])
def test_every_way_lightning_takes_devices_passes(devices):
    check_train_config(compose_config("train", f"trainer.devices={devices}"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.devices=0", "trainer.devices=0: must be a number of devices"),
        ("batch_size=0", "batch_size=0: must be a positive integer"),
        ("num_workers=-1", "num_workers=-1: must be an integer >= 0"),
    ],
)
def test_ssdh_index_names_a_bad_value_before_it_scans(tmp_path, override, message):
    cfg = compose_config(
        "index", "ckpt_path=x.ckpt", f"images={tmp_path}", f"out={tmp_path / 'i'}", override
    )
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        index(cfg)
    assert not (tmp_path / "i.work").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("hds_threshold=-1", "hds_threshold must be an integer >= 0, got -1"),
        ("hds_pool_size=0", "hds_pool_size must be an integer >= 1, got 0"),
    ],
)
def test_ssdh_search_names_a_bad_pool_before_it_reads_the_index(tmp_path, override, message):
    cfg = compose_config("search", f"index={tmp_path / 'none'}", "query=q.png", override)
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        search(cfg)  # the index does not exist: this check comes first
