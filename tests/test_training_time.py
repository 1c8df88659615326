"""The seconds a training epoch takes: timed without its validation, kept in run.json, and a
table of the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import write_run
from ssdh_lightning.callbacks import timing
from ssdh_lightning.callbacks.timing import EpochTimer
from ssdh_lightning.reporting.report import write_report
from ssdh_lightning.reporting.runs import BrokenRun, read_run
from ssdh_lightning.run_files import RUN_FILE


def test_an_epoch_is_timed_without_its_validation(monkeypatch):
    clock = iter([10.0, 13.0, 15.0, 20.0, 100.0, 101.0])
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    timer = EpochTimer()
    assert timer.seconds_per_epoch is None
    # epoch 1: starts at 10, validates from 13 to 15, ends at 20: 8 s of training
    timer.on_train_epoch_start(None, None)
    timer.on_validation_start(None, None)
    timer.on_validation_end(None, None)
    timer.on_train_epoch_end(None, None)
    # epoch 2: 1 s, no validation
    timer.on_train_epoch_start(None, None)
    timer.on_train_epoch_end(None, None)
    assert timer.seconds == [8.0, 1.0] and timer.seconds_per_epoch == 4.5


def test_a_validation_outside_training_is_not_counted(monkeypatch):
    clock = iter([0.0, 60.0, 61.0])
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    timer = EpochTimer()
    timer.on_validation_start(None, None)  # the initial row's validation, before fit
    timer.on_validation_end(None, None)
    timer.on_train_epoch_start(None, None)
    timer.on_train_epoch_end(None, None)
    assert timer.seconds == [1.0]


def test_a_training_run_records_its_seconds_per_epoch(trained_run):
    seconds = json.loads((trained_run / RUN_FILE).read_text())["seconds_per_epoch"]
    assert isinstance(seconds, float) and 0 < seconds < 600
    assert read_run(trained_run).seconds_per_epoch == seconds


def test_the_report_tables_the_seconds_an_epoch_of_each_training_method(tmp_path):
    figures = {"bcs/map@all": np.linspace(0, 1, 10)}
    for method, seed, seconds in [("lin2015", 0, 2.0), ("lin2015", 1, 4.0), ("dsh", 0, 1.5)]:
        folder = tmp_path / f"{method}_{seed}"
        write_run(folder, method=method, seed=seed, per_query=figures, seconds_per_epoch=seconds)
    write_run(tmp_path / "old", method="dpsh", per_query=figures)  # written before runs kept it
    write_report(tmp_path, resamples=200)
    text = (tmp_path / "report.md").read_text()
    assert "## Training time" in text
    assert "| digits | 48 | lin2015 | 2 | 3.00 +- 1.00 |" in text
    assert "| digits | 48 | dsh | 1 | 1.50 +- 0.00 |" in text
    assert "| digits | 48 | dpsh |" not in text.split("## Training time")[1].split("##")[0]


@pytest.mark.parametrize("bad", [-1.0, "fast", True])
def test_a_bad_seconds_per_epoch_names_the_file_and_key(tmp_path, bad):
    folder = write_run(tmp_path / "run", per_query={"bcs/map@all": np.ones(3)})
    description = json.loads((folder / RUN_FILE).read_text()) | {"seconds_per_epoch": bad}
    (folder / RUN_FILE).write_text(json.dumps(description))
    with pytest.raises(BrokenRun, match=f"{RUN_FILE} key 'seconds_per_epoch' is"):
        read_run(folder)
