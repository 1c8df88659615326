"""Training and evaluation through the real Hydra entry points (ssdh-train, ssdh-eval), and
through their functions in this process where no process is needed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hydra.errors import InstantiationException, MissingConfigException
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from helpers import TINY_TRAINING, assert_stopped, call_tool, run_tool
from ssdh_lightning import metric_names
from ssdh_lightning.per_query import read_per_query
from ssdh_lightning.run_files import METRICS_FILE, PER_QUERY_FILE

EXPECTED_FINAL_KEYS = {
    "lsh/map@1000",
    "itq/map@all",
    "initial/map@all",
    "lsh/precision_r2",
    "accuracy",
    "loss",
    "bcs/map@1000",
    "bcs/map@all",
    "bcs/precision@1",
    "bcs/precision@10",
    "bcs/precision@100",
    "bcs/precision@1000",
    "bcs/precision_r2",
    "bcs/empty_r2",
    "es/map@1000",
    "es/map@all",
    "es/precision@100",
    "hds/map@all",
    "hds/precision@100",
    "hds/pool_mean",
    "hds/pool_median",
}


def test_training_writes_metrics_checkpoints_and_tensorboard(trained_run):
    metrics = json.loads((trained_run / METRICS_FILE).read_text())
    assert metrics.keys() >= EXPECTED_FINAL_KEYS
    scores = [k for k in metrics if k not in ("loss", "collapse") and "pool" not in k]
    assert all(0.0 <= metrics[k] <= 1.0 for k in scores)
    assert metrics["collapse"]["collapsed"] is False  # the check's record beside the metrics
    assert (trained_run / "checkpoints" / "last.ckpt").is_file()
    events = EventAccumulator(str(trained_run / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {
        metric_names.TRAIN_ACCURACY,
        metric_names.VAL_ACCURACY,
        metric_names.VAL_LOSS,
        "val/bcs/map@1000",
        "val/bcs/map@all",
        "val/es/precision@100",
        "val/hds/pool_mean",
        "val/hds/map@all",
    }
    assert expected <= scalars
    assert any(tag.startswith(metric_names.TRAIN_LOSS) for tag in scalars)
    tags = events.Tags()
    assert metric_names.PRECISION_CURVE in tags["images"]
    assert {"val/examples/bcs", "val/examples/hds"} <= set(tags["images"])
    assert "val/latent_probs" in tags["histograms"]
    # one retrieval point per validation: the model before training (for the 'initial'
    # baseline), then two epochs; the last one scores the final model, not done again
    points = events.Scalars("val/bcs/map@all")
    assert len(points) == 3 and points[0].step == 0
    # the HParams tab: the run's description against its final metrics
    hparams = events.PluginTagToContent("hparams")
    assert b"lin2015" in hparams["_hparams_/session_start_info"]  # the method's name
    final = json.loads((trained_run / METRICS_FILE).read_text())
    (logged,) = events.Scalars("hparams/bcs/map@all")
    assert logged.value == pytest.approx(final["bcs/map@all"], abs=1e-6)
    run = json.loads((trained_run / "run.json").read_text())
    assert run.pop("seconds_per_epoch") > 0
    assert run == {
        "data": "digits",
        "protocol": None,  # the digits have one split
        "split_sizes": {"train": 1438, "query": 359, "database": 1438},  # the opening line's
        "hash_bits": 48,
        "method": "lin2015",
        "method_changes": {},
        "method_options": {},  # lin2015 has none
        "recipe": "shared",
        "backbone": "small_cnn",
        "experiment": None,
        "seed": 3,
    }


def test_eval_recomputes_the_metrics_of_a_checkpoint(trained_run, evaluated_run):
    # the run was trained with seed=3: eval takes it from the checkpoint for LSH and 'initial'
    trained = json.loads((trained_run / METRICS_FILE).read_text())
    evaluated = json.loads((evaluated_run / METRICS_FILE).read_text())
    for key in EXPECTED_FINAL_KEYS:
        assert evaluated[key] == pytest.approx(trained[key], abs=1e-6), key
    # and the same per-query figures, of the same queries
    trained = read_per_query(trained_run / PER_QUERY_FILE)
    evaluated = read_per_query(evaluated_run / PER_QUERY_FILE)
    assert evaluated.query_ids.tolist() == trained.query_ids.tolist()
    assert evaluated.figures.keys() == trained.figures.keys()
    for key, values in trained.figures.items():
        np.testing.assert_allclose(evaluated.figures[key], values, atol=1e-6, err_msg=key)


def test_multirun_writes_one_folder_per_job(sweep):
    for job in ("0", "1"):
        assert (sweep / job / METRICS_FILE).is_file()
        assert f"seed={job}" in (sweep / job / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["model.hash_bits=0"], ValueError, "model.hash_bits=0: must be a positive integer"),
        (["data=imagenet_nope"], MissingConfigException, "Could not find 'data/imagenet_nope'"),
        (["model.scheduler.interval=sometimes"], ValueError, "must be 'step' or 'epoch'"),
        (["ckpt_path=/no/such.ckpt"], FileNotFoundError, "checkpoint /no/such.ckpt does not exist"),
        (["model.latent_init_std=0"], ValueError, "model.latent_init_std=0: must be a finite"),
        (
            ["data.query_fraction=1.5"],
            InstantiationException,  # raised by the data module hydra builds
            "data.query_fraction must lie strictly between 0 and 1",
        ),
        (["baselines=[LSH]"], ValueError, "baselines=['LSH']: unknown ['LSH']; choose among lsh"),
    ],
)
def test_training_rejects_bad_config_with_a_clear_message(tmp_path, args, error, message):
    with pytest.raises(error) as raised:
        call_tool("ssdh-train", *TINY_TRAINING, *args, run_dir=tmp_path / "run")
    assert message in str(raised.value)


def test_resuming_from_a_checkpoint_of_another_hash_length_is_refused(trained_run, tmp_path):
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    with pytest.raises(ValueError, match="holds a model of 48 bits, but 128 were asked for"):
        call_tool(
            "ssdh-train",
            *TINY_TRAINING,
            "model.hash_bits=128",
            f"ckpt_path={ckpt}",
            run_dir=tmp_path / "run",
        )
    assert ckpt.is_file()  # nothing already written is lost


def test_resuming_with_another_method_is_refused_naming_the_checkpoints(trained_run, tmp_path):
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    with pytest.raises(ValueError) as refused:
        call_tool("ssdh-train", *TINY_TRAINING, "method=dsh", f"ckpt_path={ckpt}", run_dir=tmp_path)
    assert str(refused.value) == (
        f"checkpoint {ckpt} was trained with method=lin2015, but method=dsh was asked for; "
        "resume with method=lin2015, or train anew without ckpt_path"
    )
    assert not (tmp_path / "checkpoints").exists()


def test_a_checkpoint_whose_method_is_not_options_is_refused_before_resuming(trained_run, tmp_path):
    checkpoint = torch.load(trained_run / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["hyper_parameters"]["method"] = "dsh"  # crafted: a name, not a mapping
    crafted = tmp_path / "crafted.ckpt"
    torch.save(checkpoint, crafted)
    with pytest.raises(
        ValueError, match=r"hyper_parameters.method is 'dsh', not options; the file"
    ):
        call_tool("ssdh-train", *TINY_TRAINING, f"ckpt_path={crafted}", run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_resuming_with_other_method_options_is_refused_and_with_the_same_goes_on(tmp_path):
    """A checkpoint of idhn at the authors' scale of 5, resumed with the default of 24 (a default
    changed since it was trained reads the same): refused, naming the override that resumes it."""
    first = tmp_path / "first"
    call_tool(
        "ssdh-train",
        "trainer.max_epochs=1",  # the resumed run trains its second
        "trainer.enable_progress_bar=false",
        "method=idhn",
        "method.scale=5.0",
        "baselines=[]",
        "callbacks.retrieval_visuals=null",
        run_dir=first,
    )
    ckpt = first / "checkpoints" / "last.ckpt"
    with pytest.raises(ValueError) as refused:
        call_tool(
            "ssdh-train",
            *TINY_TRAINING,
            "method=idhn",
            f"ckpt_path={ckpt}",
            run_dir=tmp_path / "refused",
        )
    assert str(refused.value) == (
        f"checkpoint {ckpt} was trained with method=idhn scale=5.0, but this run composes "
        "scale=24.0; resume with method.scale=5.0, or train anew without ckpt_path"
    )
    assert not (tmp_path / "refused" / "checkpoints").exists()
    resumed = tmp_path / "resumed"
    call_tool(
        "ssdh-train",
        *TINY_TRAINING,
        "method=idhn",
        "method.scale=5.0",
        "baselines=[]",
        "callbacks.retrieval_visuals=null",
        f"ckpt_path={ckpt}",
        run_dir=resumed,
    )
    assert (resumed / "checkpoints" / "last.ckpt").is_file()


def test_eval_of_a_missing_or_corrupt_checkpoint(tmp_path):
    result = run_tool("ssdh-eval", "ckpt_path=/no/such.ckpt", cwd=tmp_path, check=False)
    assert_stopped(result, "FileNotFoundError: checkpoint /no/such.ckpt does not exist")
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError) as raised:
        call_tool("ssdh-eval", f"ckpt_path={corrupt}", run_dir=tmp_path / "eval")
    assert "cannot be read" in str(raised.value)
    assert "truncated or not a checkpoint" in str(raised.value)
