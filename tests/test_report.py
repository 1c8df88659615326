"""A tiny sweep through the real entry point, then ssdh-report over it."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import run_tool
from ssdh_lightning import metric_names


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sweep")
    folder = workdir / "multirun"
    run_tool(
        "ssdh-train",
        "-m",
        "seed=0,1",
        "trainer.max_epochs=1",
        "model.hash_bits=16",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={folder}",
        cwd=workdir,
    )
    return folder


def test_report_rows_are_means_and_stds_of_the_jobs(sweep, tmp_path):
    result = run_tool("ssdh-report", str(sweep), cwd=tmp_path)
    assert "| digits | 16 |" in result.stdout
    jobs = [json.loads((sweep / job / metric_names.METRICS_FILE).read_text()) for job in "01"]
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


def test_report_of_runs_that_scored_other_modes(sweep, tmp_path):
    """Runs with retrieval.modes without bcs have no BCS curves: the report leaves them out."""
    from ssdh_lightning.report import write_report

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
    (folder / "precision_recall_digits.png").unlink()
    written = {path.name for path in write_report(folder)}
    assert "precision_at_k_digits.png" in written
    assert "precision_recall_digits.png" not in written


def test_report_of_a_folder_without_runs(tmp_path):
    result = run_tool("ssdh-report", str(tmp_path), cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert f"no training runs below {tmp_path}" in result.stderr
    result = run_tool("ssdh-report", str(tmp_path / "nope"), cwd=tmp_path, check=False)
    assert "is not a folder" in result.stderr
