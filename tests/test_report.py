"""ssdh-report over a tiny sweep through the real entry point (conftest's ``sweep``) and over
run folders damaged by hand; its main() in this process, and one real process for its exit
code and stderr."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import report_in_process, run_tool
from ssdh_lightning.reporting.report import _metric_names
from ssdh_lightning.reporting.runs import Run
from ssdh_lightning.run_files import CURVES_FILE, METRICS_FILE, RUN_FILE


def test_report_rows_are_means_and_stds_of_the_jobs(sweep, tmp_path, capsys):
    sweep = shutil.copytree(sweep, tmp_path / "sweep")  # the report is written into it
    assert report_in_process(sweep, "--against", "lin2015/bcs") == 0
    assert "| digits | 16 |" in capsys.readouterr().out
    jobs = [json.loads((sweep / job / METRICS_FILE).read_text()) for job in "01"]
    with open(sweep / "report.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    methods = [row["method"] for row in rows]
    assert methods == ["bcs", "es", "hds", "lsh", "itq", "initial"]
    for row in rows:
        assert row["data"] == "digits" and row["hash_bits"] == "16" and row["runs"] == "2"
        for name in ("map@1000", "map@all", "precision@100"):
            values = [job[f"{row['method']}/{name}"] for job in jobs]
            assert float(row[f"{name}_mean"]) == pytest.approx(np.mean(values))
            assert float(row[f"{name}_std"]) == pytest.approx(np.std(values))
    bcs = rows[0]
    assert bcs["precision_r2_mean"] and bcs["empty_r2_mean"]
    assert rows[2]["pool_mean_mean"]
    for name in ("precision_at_k_digits.png", "precision_recall_digits.png"):
        with Image.open(sweep / name) as image:
            assert image.size[0] > 100 and image.format == "PNG"
    assert (sweep / "report.md").read_text().startswith("# Retrieval report")
    # the comparison: the two seeds of every row paired by seed number, from their own runs
    with open(sweep / "report_compare.csv", newline="") as stream:
        pairs = list(csv.DictReader(stream))
    assert pairs and all(pair["interval"] == "t" and pair["n"] == "2" for pair in pairs)
    assert {pair["figure"] for pair in pairs} == {"map@1000", "map@all"}
    assert any(pair["reference"] == "lin2015/bcs" for pair in pairs)
    with Image.open(sweep / "compare_digits.png") as image:
        assert image.format == "PNG"


def test_report_of_runs_that_scored_other_modes(sweep, tmp_path):
    """Runs with retrieval.modes without bcs have no BCS curves: the report leaves them out."""
    from ssdh_lightning.reporting.report import write_report

    folder = tmp_path / "sweep"
    shutil.copytree(sweep, folder)
    for job, drop in (("0", {"bcs"}), ("1", {"bcs", "hds"})):
        path = folder / job / "curves.json"
        curves = json.loads(path.read_text())
        curves.pop("bcs_pr")
        curves["precision_at_k"] = {
            mode: curve for mode, curve in curves["precision_at_k"].items() if mode not in drop
        }
        path.write_text(json.dumps(curves))
    written = {path.name for path in write_report(folder)[0]}
    assert "precision_at_k_digits.png" in written
    assert "precision_recall_digits.png" not in written


def test_report_of_a_folder_without_runs(tmp_path, capsys):
    result = run_tool("ssdh-report", str(tmp_path), cwd=tmp_path, check=False)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()  # one line, no traceback
    assert line.startswith(f"ssdh-report: no training runs below {tmp_path}: ")
    assert report_in_process(tmp_path / "nope") == 2
    assert "is not a folder" in capsys.readouterr().err


def _copy_run(trained_run, folder):
    """A run folder by hand: the files of a real run, which a test then damages."""
    folder.mkdir(parents=True)
    for name in (RUN_FILE, METRICS_FILE, CURVES_FILE):
        shutil.copy(trained_run / name, folder / name)
    return folder


def _edit(folder, name, change):
    path = folder / name
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


BROKEN = [
    (METRICS_FILE, "[]", "metrics.json holds a JSON list, not an object"),
    (METRICS_FILE, '{"bcs/map@all": "0.9"}', "key 'bcs/map@all' is '0.9', not a"),
    (METRICS_FILE, '{"bcs/map@all": Infinity}', "key 'bcs/map@all' is inf, not a"),
    (METRICS_FILE, '{"bcs/map@all": true}', "key 'bcs/map@all' is True, not a"),
    (METRICS_FILE, '{"accuracy": 0.5}', "metrics.json holds no metric of any"),
    (RUN_FILE, '{"data": "digits", "seed": 0}', "run.json has no key 'hash_bits'"),
    (RUN_FILE, '{"data": "d", "hash_bits": "48", "seed": 0}', "'48', not a positive"),
    (RUN_FILE, "{", "run.json is not valid JSON"),
    (RUN_FILE, '{"data": "d", "hash_bits": 48, "seed": 0, "recipe": ""}', "'recipe' is '', not a"),
    (RUN_FILE, '{"data": "d", "hash_bits": 48, "seed": 0, "recipe_source": 1}', "is 1, not a text"),
    (
        RUN_FILE,
        '{"data": "d", "hash_bits": 48, "seed": 0, "method_changes": ["eta"]}',
        "'method_changes' is ['eta'], not an object of options",
    ),
    (
        RUN_FILE,
        '{"data": "d", "hash_bits": 48, "seed": 0, "method_options": 3}',
        "'method_options' is 3, not an object of options",
    ),
    (RUN_FILE, '{"data": "d", "hash_bits": 48, "seed": 0, "backbone": ""}', "'backbone' is ''"),
    (RUN_FILE, '{"data": "d", "hash_bits": 48, "seed": 0, "protocol": 2}', "'protocol' is 2, not"),
    (
        RUN_FILE,
        '{"data": "d", "hash_bits": 48, "seed": 0, "split_sizes": {"train": 5}}',
        "'split_sizes' is {'train': 5}, not an object of the number of items in each set",
    ),
    (
        RUN_FILE,
        '{"data": "d", "hash_bits": 48, "seed": 0, "split_sizes": '
        '{"train": 5, "query": -1, "database": 5}}',
        "'split_sizes' is {'train': 5, 'query': -1, 'database': 5}, not an object",
    ),
    (CURVES_FILE, '{"precision_at_k": {"bcs": ["x"]}}', "'precision_at_k.bcs' is not"),
    (CURVES_FILE, '{"bcs_pr": {}}', "curves.json key 'precision_at_k' is missing"),
]


@pytest.mark.parametrize(("name", "text", "message"), BROKEN)
def test_a_broken_run_stops_the_report_unless_skipped(
    trained_run, tmp_path, capsys, name, text, message
):
    good = _copy_run(trained_run, tmp_path / "good")
    bad = _copy_run(trained_run, tmp_path / "bad")
    (bad / name).write_text(text)
    assert report_in_process(tmp_path) == 2
    error = capsys.readouterr().err
    assert f"ssdh-report: {bad}: " in error and message in error and "--skip-broken" in error
    assert not (tmp_path / "report.md").exists() and not (tmp_path / "report.csv").exists()

    assert report_in_process(tmp_path, "--skip-broken") == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1  # one line for the one broken run
    assert lines[0].startswith(f"ssdh-report: left out {bad}: ") and message in lines[0]
    with open(tmp_path / "report.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert rows and all(row["runs"] == "1" for row in rows)  # the good run alone
    metrics = json.loads((good / METRICS_FILE).read_text())
    assert float(rows[0]["map@all_mean"]) == pytest.approx(metrics["bcs/map@all"])


def test_a_nan_metric_is_reported_as_nan(trained_run, tmp_path):
    run = _copy_run(trained_run, tmp_path / "run")
    _edit(run, METRICS_FILE, lambda m: m | {"hds/map@1000": float("nan")})
    assert report_in_process(tmp_path) == 0
    with open(tmp_path / "report.csv", newline="") as stream:
        hds = next(row for row in csv.DictReader(stream) if row["method"] == "hds")
    assert hds["map@1000_mean"] == "nan"


def test_no_run_left_after_skipping_is_an_error(trained_run, tmp_path, capsys):
    bad = _copy_run(trained_run, tmp_path / "bad")
    _edit(bad, RUN_FILE, lambda meta: {k: v for k, v in meta.items() if k != "seed"})
    assert report_in_process(tmp_path, "--skip-broken") == 2
    error = capsys.readouterr().err
    assert f"no training runs below {tmp_path}" in error
    assert f"left out: {bad}: run.json has no key 'seed'" in error
    assert not (tmp_path / "report.md").exists()


def test_the_multi_label_measures_are_columns_beside_map_and_precision(tmp_path):
    keys = ["bcs/pool_mean", "bcs/wap@5", "bcs/ndcg@5", "bcs/map@5", "bcs/acg@5", "bcs/precision@5"]
    run = Run(tmp_path, "list", "list", 8, 0, dict.fromkeys(keys, 0.5), {})
    assert _metric_names([run]) == ["map@5", "precision@5", "ndcg@5", "acg@5", "wap@5", "pool_mean"]


def test_the_report_loads_no_torch():
    """ssdh-report turns JSON and numpy files into Markdown: its import path loads neither torch
    nor Lightning (seconds of start-up, and a report needs neither)."""
    heavy = ["torch", "lightning", "torchvision", "hydra"]
    check = (
        "import sys, ssdh_lightning.cli.report; "
        f"print([name for name in {heavy!r} if name in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"
