"""Every logger of ``logger=`` gets the scalars, the retrieval metrics of each validation, the run's
description against its final metrics, and the images where it takes them; each is read back with
its own client, offline."""

from __future__ import annotations

import csv
import json
import struct
from pathlib import Path

import pytest
import yaml

from helpers import compose_config
from ssdh_lightning import metric_names
from ssdh_lightning.loggers import build_loggers, mlflow_name
from ssdh_lightning.run_files import METRICS_FILE
from ssdh_lightning.tasks import train

DESCRIPTION = {
    "data": "digits",
    "hash_bits": 16,
    "method": "lin2015",
    "recipe": "shared",
    "backbone": "small_cnn",
}
VALIDATIONS = [2, 4]  # the global steps of the run's validations (the images' steps)
# Lightning logs the scalars of a validation inside fit before counting the step that ran it
LOGGED_AT = [1, 3]


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory) -> Path:
    """Four steps of training, validated after 2 and 4, logged to every logger at once."""
    run_dir = tmp_path_factory.mktemp("logged")
    cfg = compose_config(
        "train",
        "logger=many_loggers",
        "model.hash_bits=16",
        "trainer.max_steps=4",
        "trainer.val_check_interval=2",
        "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false",
        "baselines=[]",
        f"output_dir={run_dir}",
    )
    with pytest.MonkeyPatch.context() as patch:
        for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
            patch.setenv(name, str(run_dir / "wandb-home"))
        patch.setenv("WANDB_MODE", "offline")  # Lightning sets it for offline runs: restored after
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        train(cfg)
    return run_dir


def final_metrics(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / METRICS_FILE).read_text())


def test_csv_has_the_scalars_each_validation_and_the_summary(logged_run):
    with open(logged_run / "csv" / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    validations = [row for row in rows if row.get("val/bcs/map@all")]
    assert [int(row["step"]) for row in validations] == LOGGED_AT
    assert any(row.get(f"{metric_names.TRAIN_LOSS}_step") for row in rows)
    (summary,) = [row for row in rows if row.get("hparams/bcs/map@all")]
    finals = final_metrics(logged_run)
    assert float(summary["hparams/bcs/map@all"]) == pytest.approx(finals["bcs/map@all"])
    assert float(summary["hparams/hds/precision@100"]) == pytest.approx(finals["hds/precision@100"])
    hparams = yaml.safe_load((logged_run / "csv" / "hparams.yaml").read_text())
    assert DESCRIPTION.items() <= hparams.items()


def test_mlflow_has_params_metrics_curves_and_images(logged_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{logged_run / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "ssdh-lightning"]
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert {
        key: str(value) for key, value in DESCRIPTION.items()
    }.items() <= run.data.params.items()
    finals = final_metrics(logged_run)
    for key in ("bcs/map@all", "bcs/map@1000", "es/precision@100", "accuracy"):
        assert run.data.metrics[f"hparams/{mlflow_name(key)}"] == pytest.approx(finals[key])
    assert "hparams/bcs/map_at_all" in run.data.metrics  # '@' spelled out, not dropped
    history = client.get_metric_history(run.info.run_id, "val/bcs/map_at_all")
    assert sorted(point.step for point in history) == LOGGED_AT
    images = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
    for key in (metric_names.PRECISION_CURVE, metric_names.examples("bcs")):
        logged = [path for path in images if key.replace("/", "~") in path]
        assert len(logged) >= 2 * len(VALIDATIONS), (key, images)  # each PNG beside its preview
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(logged_run)


# --- W&B's offline run file: LevelDB's log format, each record one of W&B's protobuf Records ---

BLOCK, HEADER = 32768, 7
FULL, FIRST, LAST = 1, 2, 4


def wandb_records(path: Path) -> list:
    """The records of a W&B ``.wandb`` file: after its header (":W&B", magic, version), chunks of
    (crc32, length, type) headers and data in blocks of 32 KiB."""
    from wandb.proto.wandb_internal_pb2 import Record

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, parts, position = [], [], HEADER
    while position + HEADER <= len(data):
        left = BLOCK - position % BLOCK
        if left < HEADER:  # a block's tail too short for a header is padding
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + HEADER])
        chunk = data[position + HEADER : position + HEADER + length]
        position += HEADER + length
        parts = [chunk] if kind in (FULL, FIRST) else [*parts, chunk]
        if kind in (FULL, LAST):
            record = Record()
            record.ParseFromString(b"".join(parts))
            records.append(record)
    return records


def wandb_values(records, kind: str) -> list[dict]:
    """Each ``config``, ``summary`` or ``history`` record as a dict of its top-level values."""
    field = "update" if kind in ("config", "summary") else "item"
    found = []
    for record in records:
        if record.WhichOneof("record_type") == kind:
            items = getattr(getattr(record, kind), field)
            found.append(
                {
                    (item.key or "/".join(item.nested_key)): json.loads(item.value_json)
                    for item in items
                }
            )
    return found


def test_wandb_has_config_summary_history_and_images(logged_run):
    (run_file,) = logged_run.glob("wandb/offline-run-*/run-*.wandb")
    records = wandb_records(run_file)
    config = {
        key: value for update in wandb_values(records, "config") for key, value in update.items()
    }
    assert DESCRIPTION.items() <= config.items()
    summary = {k: v for update in wandb_values(records, "summary") for k, v in update.items()}
    finals = final_metrics(logged_run)
    assert summary["hparams/bcs/map@all"] == pytest.approx(finals["bcs/map@all"])
    history = wandb_values(records, "history")
    validations = [row for row in history if "val/bcs/map@all" in row]
    assert [row["trainer/global_step"] for row in validations] == LOGGED_AT
    assert any(f"{metric_names.TRAIN_LOSS}_step" in row for row in history)
    assert any(metric_names.LATENT_PROBS + "/_type" in row for row in history)  # a histogram
    media = run_file.parent / "files" / "media" / "images"
    for key in (metric_names.PRECISION_CURVE, metric_names.examples("hds")):
        assert len(list((media / Path(key).parent).glob(f"{Path(key).name}_*.png"))) == 2, key
    assert records[-1].WhichOneof("record_type") == "exit"  # the run was finished


def test_a_wandb_run_left_open_by_a_failed_job_is_finished_before_the_next(tmp_path, monkeypatch):
    import wandb

    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path))
    wandb.init(mode="offline", dir=tmp_path, project="left-open")
    config = compose_config("train", "logger=wandb", f"output_dir={tmp_path / 'next'}").logger
    build_loggers(config)
    assert wandb.run is None  # so the new logger starts a run of its own
