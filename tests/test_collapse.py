"""Collapse detection: the signs on hand-made codes, features and losses against their
definitions, and a real training forced to collapse that says so in the log and metrics.json."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest

from helpers import compose_config, report_in_process, write_run
from ssdh_lightning.collapse import (
    NO_SPREAD,
    CollapseThresholds,
    check_collapse,
    count_distinct_codes,
    feature_spread,
    relative_loss_change,
)
from ssdh_lightning.reporting.report import COLLAPSE_MARK
from ssdh_lightning.reporting.runs import BrokenRun, read_run
from ssdh_lightning.run_files import METRICS_FILE
from ssdh_lightning.tasks import train

DEFAULTS = CollapseThresholds()
RNG = np.random.default_rng(0)
HEALTHY_FEATURES = RNG.normal(size=(40, 6))
MOVING_LOSSES = [1.0, 0.8, 0.6]


def distinct_rows(codes: np.ndarray) -> int:
    return len({tuple(row) for row in codes.tolist()})


def mean_std(features: np.ndarray) -> float:
    columns = features.T.tolist()
    stds = []
    for column in columns:
        mean = sum(column) / len(column)
        stds.append((sum((v - mean) ** 2 for v in column) / len(column)) ** 0.5)
    return sum(stds) / len(stds)


def codes_with(distinct: int, count: int = 40, bits: int = 16) -> np.ndarray:
    """``count`` codes of which exactly ``distinct`` differ (each a different integer's bits)."""
    values = np.arange(count) % distinct
    return ((values[:, None] >> np.arange(bits)) & 1).astype(np.uint8)


def check(codes=None, features=HEALTHY_FEATURES, classes=4, losses=MOVING_LOSSES, **options):
    codes = codes_with(20) if codes is None else codes
    first = options.pop("first_spread", feature_spread(HEALTHY_FEATURES))
    previous = options.pop("previous", 40)
    last = options.pop("last", False)
    return check_collapse(
        codes,
        features,
        classes,
        losses,
        first,
        previous,
        CollapseThresholds(**options) if options else DEFAULTS,
        last=last,
    )


@pytest.mark.parametrize("distinct", [1, 2, 20, 40])
def test_distinct_codes_and_their_share(distinct):
    codes = codes_with(distinct)
    assert count_distinct_codes(codes) == distinct_rows(codes) == distinct
    assert check(codes).distinct_code_share == distinct / 40


def test_a_healthy_check_says_nothing():
    result = check()
    assert not result.collapsed and result.reasons == ()
    assert result.feature_spread == pytest.approx(mean_std(HEALTHY_FEATURES))
    assert result.feature_spread_ratio == pytest.approx(1.0)


def test_all_codes_equal_is_collapse():
    result = check(codes_with(1))
    assert result.collapsed and result.distinct_codes == 1
    assert result.reasons == (
        "codes: 1 distinct among 40 database codes, fewer than the 4 classes and no more than "
        "at the validation before",
    )


def test_few_codes_that_grow_or_come_first_are_a_start_not_collapse():
    """lin2015's latent bias of 1 starts every image at the code of all ones."""
    assert not check(codes_with(1), previous=None).collapsed  # the first validation
    assert not check(codes_with(3), previous=2).collapsed  # growing
    assert check(codes_with(2), previous=2).collapsed  # stuck


def test_few_codes_at_the_last_validation_are_collapse_though_it_is_the_first():
    """A sweep that validates once, at the end: the count cannot grow any more."""
    result = check(codes_with(3), previous=None, last=True)
    assert result.collapsed and result.reasons == (
        "codes: 3 distinct among 40 database codes, fewer than the 4 classes at the training's end",
    )
    assert not check(codes_with(4), previous=None, last=True).collapsed  # one a class


def test_half_distinct_codes_are_healthy():
    assert not check(codes_with(20)).collapsed


@pytest.mark.parametrize(
    ("distinct", "per_class", "collapsed"),
    [(3, 1.0, True), (4, 1.0, False), (7, 2.0, True), (8, 2.0, False)],
)
def test_the_codes_threshold_edge(distinct, per_class, collapsed):
    """Flagged below min_codes_per_class x classes, not at it."""
    result = check(codes_with(distinct), min_codes_per_class=per_class)
    assert result.collapsed is collapsed


def test_constant_features_are_collapse_whatever_the_first_spread():
    constant = np.full((40, 6), 3.5)
    assert feature_spread(constant) == 0.0
    result = check(features=constant)
    assert result.collapsed and result.reasons[0].startswith("features: spread 0")
    # the first validation's features constant too: still no spread at all
    assert check(features=constant, first_spread=0.0).collapsed


def test_the_spread_ratio_edge():
    first = feature_spread(HEALTHY_FEATURES)
    # 1% of the first spread is not flagged, just below it is
    assert not check(features=HEALTHY_FEATURES * 0.0100001, first_spread=first).collapsed
    shrunk = check(features=HEALTHY_FEATURES * 0.0099, first_spread=first)
    assert shrunk.collapsed and shrunk.feature_spread_ratio == pytest.approx(0.0099)
    # below NO_SPREAD counts as none, even where the first was as small
    tiny = HEALTHY_FEATURES * NO_SPREAD / 10
    assert check(features=tiny, first_spread=feature_spread(tiny)).collapsed


def test_a_flat_loss_is_collapse_a_moving_one_is_not():
    flat = check(losses=[0.5, 1.15, 1.15, 1.15, 1.15, 1.15])
    assert flat.collapsed and flat.loss_flat and flat.loss_change == 0.0
    assert flat.reasons == (
        "loss: flat over the last 5 training periods (1.15, 1.15, 1.15, 1.15, 1.15)",
    )
    assert not check(losses=[1.15] * 4 + [1.0]).collapsed  # only the last window counts
    # dhn on Fashion-MNIST: its features died in the first epoch, the loss crept 8e-4 in 5
    dead = [3.8237, 0.7364, 0.7362, 0.7361, 0.7361, 0.7360, 0.7359, 0.7358, 0.7357, 0.7354]
    assert check(losses=dead).loss_flat
    # the slowest healthy run on the digits (dch, converging) moved 1.2e-3 in 5 epochs
    assert not check(losses=[0.5662, 0.5655, 0.5656, 0.5648, 0.5649]).collapsed
    # a hinge loss at 0 has met its objective (dpn's margins reached on the digits): no collapse
    assert not check(losses=[0.3] + [0.0] * 5).collapsed
    assert check(losses=[0.3] + [1e-9] * 5).loss_flat  # flat above 0 is flat


def test_the_loss_change_is_max_minus_min_over_the_mean_and_its_edge():
    losses = [2.0, 1.0, 1.001, 1.002]
    assert relative_loss_change(losses, 3) == pytest.approx(0.002 / 1.001)
    assert relative_loss_change(losses[:2], 3) is None  # too few yet
    assert relative_loss_change([0.0, 0.0, 0.0], 3) == 0.0
    assert relative_loss_change([-0.1, 0.0, 0.1], 3) == float("inf")
    below = check(losses=losses, min_loss_change=0.0021, loss_window=3)
    above = check(losses=losses, min_loss_change=0.0019, loss_window=3)
    assert below.loss_flat and not above.collapsed
    assert not check(losses=[1.0] * 4).collapsed  # fewer losses than the window


def test_diverged_features_and_loss_are_named_and_recorded_as_null():
    features = HEALTHY_FEATURES.copy()
    features[0, 0] = np.nan
    result = check(features=features, losses=[1.0, 0.5, float("nan")])
    assert result.reasons == (
        "features: not finite (the training diverged)",
        "loss: not finite (the training diverged)",
    )
    record = result.as_record()
    assert record["feature_spread"] is None and record["loss_change"] is None
    json.dumps(record, allow_nan=False)  # plain JSON


@pytest.mark.parametrize(
    ("option", "value"),
    [("min_codes_per_class", -1), ("min_spread_ratio", "a"), ("loss_window", 1)],
)
def test_bad_thresholds_are_refused_with_the_setting(option, value):
    with pytest.raises(ValueError, match=option):
        CollapseThresholds(**{option: value})


def test_a_training_forced_to_collapse_says_so_in_the_log_and_metrics_json(tmp_path, caplog):
    """dpsh at a learning rate of 1 diverges within a few steps: every image gets one code."""
    cfg = compose_config(
        "train",
        "method=dpsh",
        "model.optimizer.lr=1.0",
        "trainer.max_steps=4",
        "trainer.val_check_interval=2",
        "trainer.enable_progress_bar=false",
        "callbacks.retrieval_visuals=null",
        "baselines=[]",
        "logger=csv",
        f"output_dir={tmp_path}",
    )
    with caplog.at_level(logging.WARNING, logger="ssdh_lightning.callbacks.collapse"):
        train(cfg)
    (warning,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Collapse")]
    assert re.match(r"Collapse: dpsh training at epoch 0 \(step [24]\), ", warning), warning
    assert "features: not finite" in warning and "lower learning rate" in warning
    record = json.loads((tmp_path / METRICS_FILE).read_text())["collapse"]
    assert record["collapsed"] and record["distinct_codes"] == 1
    assert record["collapsed_steps"][-1] == 4  # said at each validation since
    assert any(reason.startswith("codes: 1 distinct") for reason in record["reasons"])
    logged = (tmp_path / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"val/collapse/collapsed", "val/collapse/distinct_code_share"} <= set(logged)


def test_a_healthy_run_records_no_collapse(trained_run):
    record = json.loads((trained_run / METRICS_FILE).read_text())["collapse"]
    assert record["collapsed"] is False and record["reasons"] == []
    assert record["distinct_codes"] > 10 and record["collapsed_steps"] == []


COLLAPSED = {
    "collapsed": True,
    "reasons": ["codes: 1 distinct among 1000 database codes, fewer than the 10 classes"],
    "distinct_codes": 1,
}


def test_the_report_marks_the_rows_of_a_collapsed_run_and_names_it_under_the_table(tmp_path):
    metrics = {"bcs/map@all": 0.1, "es/map@all": 0.1}
    write_run(tmp_path / "0", method="dpsh", metrics=metrics | {"collapse": COLLAPSED})
    healthy = COLLAPSED | {"collapsed": False, "reasons": []}
    write_run(tmp_path / "1", method="lin2015", metrics=metrics | {"collapse": healthy})
    write_run(tmp_path / "2", method="dsh", metrics=metrics)  # a run from before the check
    assert report_in_process(tmp_path) == 0
    table, _, _ = (tmp_path / "report.md").read_text().partition("\n#")
    rows = [line for line in table.splitlines() if line.startswith("| digits")]
    marked = [line.split(" | ")[2] for line in rows if COLLAPSE_MARK in line]
    assert marked == [f"dpsh {COLLAPSE_MARK}"] * 2  # its BCS and ES rows, no other
    (note,) = [line for line in table.splitlines() if line.startswith(COLLAPSE_MARK)]
    assert note == (
        f"{COLLAPSE_MARK} dpsh, digits, 48 bits, seed 0: the training collapsed "
        f"({COLLAPSED['reasons'][0]}); {tmp_path / '0'}"
    )


def test_a_damaged_collapse_record_stops_the_report_naming_it(tmp_path):
    write_run(tmp_path / "0", metrics={"bcs/map@all": 0.1, "collapse": {"collapsed": "yes"}})
    with pytest.raises(BrokenRun, match=r"metrics.json key 'collapse' is .*'collapsed' \(true"):
        read_run(tmp_path / "0")


def collapse_of_training(tmp_path, *overrides: str) -> dict:
    """metrics.json's collapse record of a quiet training on the digits with ``overrides``."""
    quiet = ("trainer.enable_progress_bar=false", "callbacks.retrieval_visuals=null")
    cfg = compose_config(
        "train", *overrides, *quiet, "baselines=[]", "logger=csv", f"output_dir={tmp_path}"
    )
    train(cfg)
    return json.loads((tmp_path / METRICS_FILE).read_text())["collapse"]


def test_a_loss_that_stops_moving_is_seen_though_validation_comes_every_few_epochs(tmp_path):
    """Each epoch is a period of the loss: with one validation after 5 epochs, a run whose
    weights do not move (a learning rate of 1e-12) is flagged at that validation."""
    record = collapse_of_training(
        tmp_path,
        "model.optimizer.lr=1e-12",
        "trainer.max_epochs=5",
        "trainer.check_val_every_n_epoch=5",
    )
    assert record["loss_flat"] and record["loss_change"] < 1e-3
    assert record["reasons"][-1].startswith("loss: flat over the last 5 training periods")


@pytest.mark.parametrize(
    ("validation", "reason"),
    [
        ([], "at the training's end"),  # once, at the end
        (["trainer.val_check_interval=2"], "and no more than at the validation before"),
    ],
)
def test_a_run_that_never_left_its_start_is_flagged_at_its_last_validation(
    tmp_path, validation, reason
):
    """lin2015 at a rate of 1e-12 keeps its start, every image the code of all ones. Validated
    only at the end of its one epoch, that validation is the last and says collapse; validated
    at step 2 as well, step 2 (within the last epoch) is not the last and says nothing."""
    record = collapse_of_training(
        tmp_path,
        "model.optimizer.lr=1e-12",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=4",
        *validation,
    )
    assert record["distinct_codes"] == 1 and record["collapsed_steps"] == [4]
    database = 1797 - 359  # the digits less the queries
    assert record["reasons"] == [
        f"codes: 1 distinct among {database} database codes, fewer than the 10 classes {reason}"
    ]


def test_a_smoke_test_stopped_within_its_first_epoch_is_not_called_collapsed(tmp_path):
    """Two steps of lin2015 end where it starts, every image the code of all ones: a training
    that has not run a whole epoch is not judged by its codes."""
    record = collapse_of_training(tmp_path, "trainer.max_steps=2", "trainer.val_check_interval=2")
    assert record["distinct_codes"] < 10 and not record["collapsed"] and record["reasons"] == []
